"""CloudFormation YAML as data: the short-form tags (`!Sub`, `!Ref`, `!GetAtt`
...) read as their long form (`{"Fn::Sub": ...}`), every mapping remembering
the line it started on (for messages). Shared by `iam_policy_check.py` and
`deploy_to_moto.py`; the standard library and PyYAML only.
"""

import yaml


class Mapping(dict):
    """A YAML mapping that remembers the line it started on."""

    line = None


class TemplateLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags as their long form."""

    def construct_mapping(self, node, deep=False):
        out = Mapping(super().construct_mapping(node, deep=True))
        out.line = node.start_mark.line + 1
        return out


def _short_tag(tag):
    name = {"Ref": "Ref", "Condition": "Condition"}.get(tag, "Fn::" + tag)

    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        out = Mapping({name: value})
        out.line = node.start_mark.line + 1
        return out

    return construct


for _tag in ("Ref", "Condition", "GetAtt", "Sub", "If", "Equals", "And", "Or", "Not", "Join",
             "Select", "Split", "Base64", "FindInMap", "ImportValue", "GetAZs", "Cidr",
             "Length", "ToJsonString", "Transform"):
    TemplateLoader.add_constructor("!" + _tag, _short_tag(_tag))
TemplateLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, TemplateLoader.construct_mapping)


def load(text):
    return yaml.load(text, Loader=TemplateLoader)  # noqa: S506 - a SafeLoader subclass


def load_file(path):
    with open(path, encoding="utf-8") as handle:
        return load(handle.read())
