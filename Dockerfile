# The gitkube agent image (repo-template/system/gitkube-agent runs it in the cluster).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN pip install --no-cache-dir /src && rm -rf /src
USER 65532:65532
ENTRYPOINT ["gitkube"]
CMD ["agent"]
