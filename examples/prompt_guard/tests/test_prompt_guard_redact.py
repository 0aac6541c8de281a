"""What the redaction masks, what it leaves alone, and what it counts."""

import pytest

from gateway_prompt_guard.redact import redact

# Made-up keys in each vendor's format; none of them is real. Each is written
# in two parts so that secret scanners do not take the file for a leak.
FAKE_KEYS = {
    "openai": "sk-" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3",
    "openai project": "sk-proj-" + "Xy7_Zw8-Vu9Ts0Rq1Po2Nm3Lk4Ji5Hg6Fe7Dc8Ba9",
    "anthropic": "sk-ant-api03-" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0",
    "groq": "gsk_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6",
    "aws": "AKIA" + "IOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "google": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
}


@pytest.mark.parametrize("key", FAKE_KEYS.values(), ids=FAKE_KEYS.keys())
def test_vendor_keys_are_masked_in_the_middle_of_a_sentence(key):
    text, found = redact(f"my key is {key}, please use it")

    assert text == "my key is [REDACTED_API_KEY], please use it"
    assert found == {"api_key": 1}


@pytest.mark.parametrize("text, masked", [
    ("api_key=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", "api_key=[REDACTED_API_KEY]"),
    ('{"client_secret": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA=="}',
     '{"client_secret": "[REDACTED_API_KEY]"}'),
    ("API key: 9f8e7d6c5b4a39281706f5e4d3c2b1a0.", "API key: [REDACTED_API_KEY]."),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl01",
     "Authorization: Bearer [REDACTED_API_KEY]"),
    ("TOKEN = 'a1b2c3d4e5f6a7b8c9d0e1f2'", "TOKEN = '[REDACTED_API_KEY]'"),
])
def test_a_long_random_value_after_a_secret_label_is_masked_and_the_label_kept(text, masked):
    assert redact(text) == (masked, {"api_key": 1})


@pytest.mark.parametrize("address", [
    "jane.doe@example.com", "a.b+filter@mail.example.co.uk", "x_y-z@sub-domain.io",
])
def test_email_addresses_are_masked(address):
    text, found = redact(f"Write to {address}.")

    assert text == "Write to [REDACTED_EMAIL]."
    assert found == {"email": 1}


@pytest.mark.parametrize("text", [
    "I use sk-learn-and-pandas-for-everything daily",
    "the token count was 12345678901234567890",
    "the secret to success is 10000 hours of deliberate practice",
    "secret: correcthorsebatterystaple",
    "commit 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a fixed it",
    "a task-" + "0123456789abcdefghijklm ticket",
    "my_api_key = os.environ['OPENAI_API_KEY']",
    "decorate with @functools.cache, mail root@localhost",
    "AKIA is not a key on its own, nor is AKIA123",
    "max_tokens: 4096abcdefghijklmnopqrstu",
])
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == (text, {})


def test_counts_every_finding_by_kind_in_order_of_appearance():
    text, found = redact(
        f"{FAKE_KEYS['groq']} then a@example.com, b@example.org and {FAKE_KEYS['aws']}")

    assert text == "[REDACTED_API_KEY] then [REDACTED_EMAIL], [REDACTED_EMAIL] and [REDACTED_API_KEY]"
    assert list(found.items()) == [("api_key", 2), ("email", 2)]


def test_a_long_pasted_blob_is_scanned_quickly():
    # A pattern that retried at every position would take minutes here.
    blob = "A1" * 500_000

    text, found = redact(f"{blob} mail a@example.com")

    assert text == f"{blob} mail [REDACTED_EMAIL]"
