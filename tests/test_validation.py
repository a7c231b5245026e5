"""``flatten``: marshmallow's nested messages as the ``details`` of an INVALID_INPUT answer."""
import pytest
from marshmallow import Schema, ValidationError, fields

from app.schemas import TaskSubmissionSchema
from app.validation import flatten


def test_nested_messages_become_dotted_paths():
    messages = {"type": ["Missing data for required field."],
                "data": {"text": ["Not a valid string."], "channel": ["Must be one of: chat."]}}

    assert flatten(messages) == {"type": "Missing data for required field.",
                                 "data.text": "Not a valid string.",
                                 "data.channel": "Must be one of: chat."}


def test_several_messages_for_one_field_are_joined():
    assert flatten({"data": {"text": ["Too short.", "Not English."]}}) == {
        "data.text": "Too short. Not English."}


def test_deeply_nested_and_indexed_messages():
    messages = {"data": {"tags": {0: ["Not a valid string."], 3: ["Too long."]}}}

    assert flatten(messages) == {"data.tags.0": "Not a valid string.",
                                 "data.tags.3": "Too long."}


def test_an_error_about_the_whole_body_is_named_body():
    assert flatten({"_schema": ["Invalid input type."]}) == {"body": "Invalid input type."}
    assert flatten(["Invalid input type."]) == {"body": "Invalid input type."}


def test_an_error_about_a_nested_object_is_named_by_its_path():
    messages = {"data": {"_schema": ["Invalid input type."]}}

    assert flatten(messages) == {"data": "Invalid input type."}


def test_a_message_that_is_not_a_list_of_strings_is_kept_as_text():
    assert flatten({"data": "Field may not be null."}) == {"data": "Field may not be null."}
    assert flatten({"data": ["one", 2]}) == {"data": "['one', 2]"}


def test_no_messages_is_no_details():
    assert flatten({}) == {}


def errors_of(schema: Schema, document) -> dict:
    with pytest.raises(ValidationError) as caught:
        schema.load(document)
    return flatten(caught.value.messages)


@pytest.fixture(scope="module")
def submission_schema():
    return TaskSubmissionSchema(max_text_chars=10, max_timeout_seconds=60)


@pytest.mark.parametrize("document, expected", [
    ({"type": "sentiment_analysis", "data": {"channel": "chat"}},
     {"data.text": "Missing data for required field."}),
    ({"type": "sentiment_analysis", "data": {"text": "x" * 11, "channel": "chat"}},
     {"data.text": "Text longer than 10 characters."}),
    ({"type": "sentiment_analysis", "data": {"text": "hi", "channel": "chat", "timeout": 61}},
     {"data.timeout": "Timeout above 60 seconds."}),
    ({"type": "sentiment_analysis", "data": []}, {"data": "Invalid input type."}),
    ([], {"body": "Invalid input type."}),
])
def test_real_schema_errors_flatten_to_field_paths(submission_schema, document, expected):
    assert errors_of(submission_schema, document) == expected


def test_list_field_errors_are_indexed():
    class Tagged(Schema):
        tags = fields.List(fields.String())

    assert errors_of(Tagged(), {"tags": ["ok", 5]}) == {"tags.1": "Not a valid string."}
