#!/usr/bin/env python3
"""Summarises a saved email (.eml) as JSON for the tests: headers, the MIME tree, the text
and HTML parts, the inline images, and whether the HTML is well formed (every non-void
element closed in order, every img with a cid: source pointing at an inline part).

    python3 tests/support/mail_summary.py message.eml
"""
import json
import sys
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.images, self.tables = [], [], [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table" and "id" in attrs:
            self.tables[attrs["id"]] = 0
            self.current_table = attrs["id"]
        if tag == "tr" and getattr(self, "current_table", None):
            self.tables[self.current_table] += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "table":
            self.current_table = None


def main():
    with open(sys.argv[1], "rb") as f:
        message = BytesParser(policy=policy.default).parse(f)
    tree, text, html, inline = [], None, None, {}
    for part in message.walk():
        content_type = part.get_content_type()
        tree.append(content_type)
        if part.is_multipart():
            continue
        if content_type == "text/plain":
            text = part.get_content()
        elif content_type == "text/html":
            html = part.get_content()
        elif content_type.startswith("image/"):
            cid = (part.get("Content-ID") or "").strip("<>")
            payload = part.get_payload(decode=True)
            inline[cid] = {"type": content_type, "bytes": len(payload), "png": payload[:8] == b"\x89PNG\r\n\x1a\n",
                           "disposition": part.get_content_disposition()}
    checker = Checker()
    checker.feed(html or "")
    checker.close()
    if checker.stack:
        checker.errors.append(f"unclosed: {checker.stack}")
    print(json.dumps({
        "subject": message["Subject"],
        "from": message["From"],
        "to": message["To"],
        "top": message.get_content_type(),
        "tree": tree,
        "text": text,
        "html": html,
        "inline": inline,
        "html_errors": checker.errors,
        "html_images": checker.images,
        "html_table_rows": checker.tables,
    }))


if __name__ == "__main__":
    main()
