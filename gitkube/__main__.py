from gitkube.cli import main

main()
