"""iMIP mail (RFC 6047) built from a queue row and read back, and the SMTP
settings: pure parts, no server."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import icalendar
import pytest

from backside_caldav.db.itip_queue import QueuedMessage
from backside_caldav.scheduling import imip_message, smtp_settings
from backside_caldav.scheduling.smtp_settings import SmtpSettingsError

REQUEST = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\n"
           "BEGIN:VEVENT\r\nUID:m-1\r\nDTSTAMP:20270101T000000Z\r\n"
           "DTSTART:20270310T100000Z\r\nDTEND:20270310T110000Z\r\nSUMMARY:Plan\\, review\r\n"
           "LOCATION:Room 1\r\nORGANIZER;CN=Alice:mailto:alice@one.example\r\n"
           "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:guest@outside.example\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")


def _row(text: str = REQUEST, method: str = "REQUEST",
         originator: str = "mailto:alice@one.example",
         recipient: str = "mailto:guest@outside.example") -> QueuedMessage:
    now = datetime.now(timezone.utc)
    return QueuedMessage("t", "0b4d6a52-0000-4000-8000-000000000001", "mail", method,
                         originator, recipient, "m-1", text, 0, now,
                         None, None, now)


def _calendar_part(message: email.message.Message) -> email.message.Message:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part


def test_a_request_is_an_imip_message() -> None:
    mail = imip_message.build(_row(), envelope_from="calendar@server.example")
    parsed = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert parsed["From"] == "Alice <alice@one.example>"  # the ORGANIZER's CN
    assert parsed["Sender"] == "calendar@server.example"
    assert parsed["To"] == "guest@outside.example"
    assert parsed["Date"].datetime.tzinfo is not None  # RFC 5322 3.6: Date is required
    assert parsed["Subject"] == "Invitation: Plan, review"
    assert parsed.get_content_type() == "multipart/mixed"
    part = _calendar_part(parsed)
    assert part.get_param("method") == "REQUEST"
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert cal["METHOD"] == "REQUEST" and str(cal.walk("VEVENT")[0]["UID"]) == "m-1"
    attachments = [p for p in parsed.walk() if p.get_filename() == "invite.ics"]
    assert len(attachments) == 1
    text = parsed.get_body(("plain",)).get_content()
    assert "Where: Room 1" in text and "alice@one.example" in text
    # The same row makes the same Message-ID: a resend is recognisably the same.
    again = imip_message.build(_row())
    assert again["Message-ID"] == mail["Message-ID"]


def test_names_in_from_and_to_come_from_their_cn() -> None:
    """A CN with a comma or quotes stays one display name of one address."""
    text = REQUEST.replace("ATTENDEE;PARTSTAT", 'ATTENDEE;CN="Guest, G. <x@evil.example>";PARTSTAT')
    parsed = email.message_from_bytes(imip_message.build(_row(text)).as_bytes(),
                                      policy=email.policy.default)
    [to] = parsed["To"].addresses
    assert to.addr_spec == "guest@outside.example"
    assert to.display_name == "Guest, G. <x@evil.example>"
    reply = REQUEST.replace("METHOD:REQUEST", "METHOD:REPLY").replace(
        "ATTENDEE;PARTSTAT", "ATTENDEE;CN=Guest;PARTSTAT")
    mail = imip_message.build(_row(reply, "REPLY", originator="mailto:guest@outside.example",
                                   recipient="mailto:alice@one.example"))
    assert (mail["From"], mail["To"]) == ("Guest <guest@outside.example>",
                                          "Alice <alice@one.example>")


def test_a_name_that_looks_like_an_encoded_word_is_dropped() -> None:
    """`=?utf-8?q?Bcc=3A_victim=40evil=2Etest?=` as a CN would read as another
    address in some mail readers: the mail goes without that name."""
    text = REQUEST.replace("ATTENDEE;PARTSTAT",
                           'ATTENDEE;CN="=?utf-8?q?victim=40evil=2Etest?=";PARTSTAT')
    parsed = email.message_from_bytes(imip_message.build(_row(text)).as_bytes(),
                                      policy=email.policy.default)
    [to] = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ("", "guest@outside.example")


def test_an_international_domain_is_mailed_in_its_ascii_form() -> None:
    text = REQUEST.replace("guest@outside.example", "guest@bücher.example")
    mail = imip_message.build(_row(text, recipient="mailto:guest@bücher.example"))
    assert mail["To"].addresses[0].addr_spec == "guest@xn--bcher-kva.example"
    assert mail.as_bytes().isascii()


def test_subjects_follow_the_method_and_the_answer() -> None:
    cancel = REQUEST.replace("METHOD:REQUEST", "METHOD:CANCEL")
    assert imip_message.build(_row(cancel, "CANCEL"))["Subject"] == "Cancelled: Plan, review"
    reply = REQUEST.replace("METHOD:REQUEST", "METHOD:REPLY").replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=DECLINED")
    assert imip_message.build(_row(reply, "REPLY"))["Subject"] == "Declined: Plan, review"


def test_a_title_cannot_add_a_header() -> None:
    evil = REQUEST.replace("SUMMARY:Plan\\, review", "SUMMARY:Hi\\nBcc: victim@example.com")
    mail = imip_message.build(_row(evil))
    raw = mail.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in raw.split(b"\r\n\r\n", 1)[0]


def test_a_row_for_two_recipients_is_not_mailed() -> None:
    """A row queued before recipients were checked: the sender gives it up
    (mail_sender marks it failed) instead of mailing both."""
    with pytest.raises(ValueError, match="not one mail address"):
        imip_message.build(_row(recipient="mailto:guest@outside.example,x@other.example"))
    assert imip_message.build(_row(recipient="mailto:guest%40outside.example"))["To"] == (
        "guest@outside.example")


def test_an_inbound_reply_is_found_in_its_mail() -> None:
    reply = REQUEST.replace("METHOD:REQUEST", "METHOD:REPLY")
    mail = imip_message.build(_row(reply, "REPLY", originator="mailto:Guest@Outside.example"))
    sender, text = imip_message.inbound(mail.as_bytes())
    assert sender == "guest@outside.example"
    assert "METHOD:REPLY" in text
    # Quoted-printable, a bare text/calendar body, an .ics attachment only.
    qp = ("From: Guest <guest@outside.example>\r\nTo: alice@one.example\r\nSubject: x\r\n"
          "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=utf-8\r\n"
          "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
          + reply.replace("SUMMARY:Plan\\, review", "SUMMARY:Pl=C3=A4n"))
    sender, text = imip_message.inbound(qp.encode())
    assert "SUMMARY:Plän" in text
    only_file = ("From: guest@outside.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                 "Content-Type: text/plain\r\n\r\nsee attached\r\n--B\r\n"
                 "Content-Type: application/octet-stream\r\n"
                 "Content-Disposition: attachment; filename=reply.ics\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 + __import__("base64").encodebytes(reply.encode()).decode() + "--B--\r\n")
    assert imip_message.inbound(only_file.encode())[1].startswith("BEGIN:VCALENDAR")


@pytest.mark.parametrize(("raw", "reason"), [
    (b"From: a@b.example\r\nSubject: hi\r\n\r\nno calendar here", "no text/calendar"),
    (b"Subject: hi\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR", "one From"),
    (b"\x00\xff garbage", "one From"),
    ((b"From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B"
      b"\r\n\r\n--B\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nA\r\n--B\r\n"
      b"Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nB\r\n--B--\r\n"),
     "more than one calendar"),
])
def test_mail_without_one_itip_message_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(imip_message.NotImip, match=reason):
        imip_message.inbound(raw)


def test_smtp_settings() -> None:
    assert smtp_settings.load({}) is None
    s = smtp_settings.load({"BACKSIDE_SMTP_URL": "smtp://mailer:s%40cret@relay.example:2525",
                            "BACKSIDE_SMTP_FROM": "calendar@server.example"})
    assert (s.scheme, s.host, s.port, s.username, s.password, s.envelope_from) == (
        "smtp", "relay.example", 2525, "mailer", "s@cret", "calendar@server.example")
    assert "cret" not in s.describe()
    s = smtp_settings.load({"BACKSIDE_SMTP_URL": "smtps://relay.example",
                            "BACKSIDE_SMTP_PASSWORD": "pw"})
    assert (s.port, s.password) == (465, "pw")


def test_smtp_settings_from_the_config_file(tmp_path) -> None:  # noqa: ANN001
    config = tmp_path / "radicale.conf"
    config.write_text("[storage]\ntype = storage_plugin\nsmtp_url = smtp://relay.example:587\n"
                      "smtp_from = cal@server.example\n")
    s = smtp_settings.load({}, config)
    assert (s.host, s.port, s.envelope_from) == ("relay.example", 587, "cal@server.example")
    # The environment wins.
    assert smtp_settings.load({"BACKSIDE_SMTP_URL": "smtp://other.example"}, config).host \
        == "other.example"


@pytest.mark.parametrize(("env", "reason"), [
    ({"BACKSIDE_SMTP_URL": "ftp://relay.example"}, "smtp:// or smtps://"),
    ({"BACKSIDE_SMTP_URL": "smtp://"}, "names no host"),
    ({"BACKSIDE_SMTP_URL": "smtp://relay.example:port"}, "not a number"),
    ({"BACKSIDE_SMTP_URL": "smtp://relay.example:99999"}, "not a number"),
    ({"BACKSIDE_SMTP_URL": "smtp://relay.example/path"}, "nothing more"),
    ({"BACKSIDE_SMTP_URL": "smtp://relay.example", "BACKSIDE_SMTP_FROM": "a\r\nb@c"},
     "one address"),
    ({"BACKSIDE_SMTP_URL": "smtp://relay.example", "BACKSIDE_SMTP_RETRY_SECONDS": "soon"},
     "a number"),
])
def test_bad_smtp_settings_are_refused(env: dict[str, str], reason: str) -> None:
    with pytest.raises(SmtpSettingsError, match=reason):
        smtp_settings.load(env)
