"""The chat-request hook: every message is guarded and the finding reported."""

from gateway import ChatCall, ChatRequest, Message, Provider, ProviderConfig

from gateway_prompt_guard import gateway_chat_request

FAKE_KEY = "sk-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3"


def call_with(*messages: Message) -> ChatCall:
    return ChatCall(provider=Provider("p", ProviderConfig()),
                    request=ChatRequest(model="m", messages=list(messages)))


def test_every_message_is_masked_and_the_header_counts_them():
    call = call_with(
        Message(role="system", content="Reply to ops@example.com."),
        Message(role="assistant", content="Noted."),
        Message(role="user", content=f"Use {FAKE_KEY} to call it"),
    )

    gateway_chat_request(call)

    assert [m.content for m in call.request.messages] == [
        "Reply to [REDACTED_EMAIL].", "Noted.", "Use [REDACTED_API_KEY] to call it"]
    assert call.response_headers == {"X-Prompt-Guard": "redacted=2; kinds=email,api_key"}


def test_text_parts_of_a_multi_part_message_are_masked_and_other_parts_kept():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat@2x.png"}}
    call = call_with(Message(role="user", content=[
        {"type": "text", "text": f"key {FAKE_KEY}"},
        image,
        {"type": "text", "text": "and me@example.com"},
    ]))

    gateway_chat_request(call)

    assert call.request.messages[0].content == [
        {"type": "text", "text": "key [REDACTED_API_KEY]"},
        image,
        {"type": "text", "text": "and [REDACTED_EMAIL]"},
    ]
    assert call.response_headers["X-Prompt-Guard"] == "redacted=2; kinds=api_key,email"


def test_a_clean_request_is_unchanged_and_reported_as_such():
    call = call_with(Message(role="assistant", content=None, tool_calls=[{"id": "t1"}]),
                     Message(role="user", content="What is 2 + 2?"))

    gateway_chat_request(call)

    assert call.request.messages[1].content == "What is 2 + 2?"
    assert call.response_headers["X-Prompt-Guard"] == "redacted=0"


def test_the_header_never_contains_what_was_masked():
    call = call_with(Message(role="user", content=f"{FAKE_KEY} me@example.com"))

    gateway_chat_request(call)

    header = call.response_headers["X-Prompt-Guard"]
    assert FAKE_KEY not in header and "example.com" not in header
