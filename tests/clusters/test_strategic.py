"""Strategic merge patch (the subset kustomize documents) and JSON merge patch."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitkube.primitives.errors import GitkubeError
from gitkube.render.strategic import apply_patch, json_merge, strategic_merge

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"tier": "front"}},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "nginx:1.25",
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    },
                    {"name": "sidecar", "image": "envoy"},
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            }
        },
    },
}


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_containers_merge_by_name_and_env_by_name():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.27", "env": [{"name": "B", "value": "9"}]}
                    ]
                }
            }
        }
    }
    merged = strategic_merge(DEPLOYMENT, patch)
    web, sidecar = containers(merged)
    assert web["image"] == "nginx:1.27"
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "9"}]
    assert web["ports"] == [{"containerPort": 80}]
    assert sidecar == {"name": "sidecar", "image": "envoy"}


def test_a_new_item_is_appended_and_ports_merge_by_container_port():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 443, "name": "https"}]},
                        {"name": "metrics", "image": "exporter"},
                    ]
                }
            }
        }
    }
    merged = strategic_merge(DEPLOYMENT, patch)
    assert [c["name"] for c in containers(merged)] == ["web", "sidecar", "metrics"]
    assert containers(merged)[0]["ports"] == [
        {"containerPort": 80},
        {"containerPort": 443, "name": "https"},
    ]


def test_service_ports_merge_by_port():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    merged = apply_patch(service, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert merged["spec"]["ports"] == [{"port": 80, "targetPort": 9090}]


def test_patch_delete_removes_an_item_and_a_map():
    patch = {
        "metadata": {"labels": {"$patch": "delete"}},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}},
    }
    merged = strategic_merge(DEPLOYMENT, patch)
    assert [c["name"] for c in containers(merged)] == ["web"]
    assert "labels" not in merged["metadata"]


def test_patch_replace_replaces_a_map_and_a_list():
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [{"$patch": "replace"}, {"name": "cache", "emptyDir": {}}],
                }
            }
        },
        "metadata": {"labels": {"$patch": "replace", "tier": "back"}},
    }
    merged = strategic_merge(DEPLOYMENT, patch)
    assert merged["spec"]["template"]["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}}]
    assert merged["metadata"]["labels"] == {"tier": "back"}


def test_null_deletes_a_key_and_lists_without_merge_key_are_replaced():
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {"nodeSelector": {"a": "b"}, "args": ["x", "y"]},
    }
    merged = strategic_merge(obj, {"spec": {"nodeSelector": None, "args": ["z"]}})
    assert merged == {"apiVersion": "v1", "kind": "Pod", "spec": {"args": ["z"]}}


def test_custom_resources_take_a_json_merge_patch():
    cr = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "spec": {"items": [{"name": "a", "n": 1}]},
    }
    merged = apply_patch(cr, {"spec": {"items": [{"name": "b"}]}})
    assert merged["spec"]["items"] == [{"name": "b"}]  # replaced, no merge key


@pytest.mark.parametrize(
    "patch",
    [
        {"spec": {"$setElementOrder/containers": [{"name": "web"}]}},
        {"spec": {"$patch": "merge-ish"}},
        {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}},
    ],
)
def test_unknown_directives_and_items_without_merge_key_are_refused(patch):
    with pytest.raises(GitkubeError):
        strategic_merge(DEPLOYMENT, patch)


# -- properties -------------------------------------------------------------------

scalars = st.one_of(st.integers(-5, 5), st.text("ab", max_size=2), st.booleans())
keys = st.sampled_from(["a", "b", "c", "spec", "name"])
values = st.recursive(scalars, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=8)
maps = st.dictionaries(keys, values, max_size=4)
patches = st.recursive(
    st.one_of(scalars, st.none()),
    lambda inner: st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
).filter(lambda p: isinstance(p, dict))
names = st.sampled_from(["web", "db", "cache", "log"])
container_lists = st.lists(
    st.fixed_dictionaries({"name": names, "image": st.text("xyz", min_size=1, max_size=2)}),
    max_size=4,
    unique_by=lambda c: c["name"],
)


@settings(max_examples=200)
@given(maps, patches)
def test_without_lists_strategic_merge_is_json_merge(original, patch):
    assert strategic_merge(original, patch) == json_merge(original, patch)


@settings(max_examples=200)
@given(maps, patches)
def test_patching_changes_neither_input_and_is_idempotent(original, patch):
    before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    once = strategic_merge(original, patch)
    assert (original, patch) == (before, patch_before)
    assert strategic_merge(once, patch) == once


@settings(max_examples=200)
@given(maps)
def test_an_empty_patch_changes_nothing(original):
    assert strategic_merge(original, {}) == original


@settings(max_examples=200)
@given(container_lists, container_lists)
def test_containers_merge_by_name(original, patch):
    merged = strategic_merge({"containers": original}, {"containers": patch})["containers"]
    patched = {c["name"]: c for c in patch}
    # every container keeps its place; the patch's version of each wins; new ones follow
    assert [c["name"] for c in merged] == [c["name"] for c in original] + [
        c["name"] for c in patch if c["name"] not in {o["name"] for o in original}
    ]
    for container in merged:
        expected = patched.get(container["name"]) or next(
            o for o in original if o["name"] == container["name"]
        )
        assert container == expected
    # and idempotent
    assert strategic_merge({"containers": merged}, {"containers": patch})["containers"] == merged
