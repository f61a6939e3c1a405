"""Drives Jotform's official Python client (PyPI `jotform`, unchanged) against Sealform's compatible API.

Usage: client_test.py BASE_URL API_KEY, where BASE_URL ends in /jotform/ (the client appends "v1/…").
Exits non-zero with a message naming the first check that failed; prints "jotform client: N checks passed" on
success.
"""

import json
import sys
import urllib.error

from jotform import JotformAPIClient

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAILED after {checks} checks: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def refused(call, status, what):
    try:
        call()
    except urllib.error.HTTPError as err:
        body = json.loads(err.read().decode("utf-8"))
        check(err.code == status and body["responseCode"] == status and body["content"] == "", what)
        return
    check(False, f"{what}: expected HTTP {status}")


def main():
    base, key = sys.argv[1], sys.argv[2]
    client = JotformAPIClient(key, baseUrl=base)

    user = client.get_user()
    check(user["email"] == "owner@py.example", "get_user names the key's user")
    check("submissions" in client.get_usage(), "get_usage")
    check(client.get_settings()["email"] == "owner@py.example", "get_settings")
    check(isinstance(client.get_subusers(), list), "get_subusers")
    check(client.get_reports() == [], "get_reports (Sealform has none)")

    form = client.create_form({
        "questions": {
            "1": {"type": "control_textbox", "text": "Favourite colour", "order": "1"},
            "2": {"type": "control_fullname", "text": "Your name", "order": "2", "phi": "Yes"},
        },
        "properties": {"title": "Python intake"},
    })
    form_id = form["id"]
    check(form["status"] == "ENABLED" and form["url"].endswith("/f/" + form_id), "create_form publishes at once")
    check(any(f["id"] == form_id for f in client.get_forms()), "get_forms lists the new form")
    check(client.get_forms(limit=1, order_by="title") is not None, "get_forms with limit and orderby")
    check(client.get_form(form_id)["title"] == "Python intake", "get_form")

    questions = client.get_form_questions(form_id)
    check(sorted(questions) == ["1", "2"], "get_form_questions")
    check(questions["2"]["type"] == "control_fullname", "question shape")
    added = client.create_form_question(form_id, {"type": "control_email", "text": "E-mail"})
    qid = added["qid"]
    client.edit_form_question(form_id, qid, {"text": "Your e-mail"})
    check(client.get_form_question(form_id, qid)["text"] == "Your e-mail", "edit_form_question")
    client.delete_form_question(form_id, qid)
    refused(lambda: client.get_form_question(form_id, qid), 404, "a deleted question is gone")

    created = client.create_form_submission(form_id, {"1": "Blue", "2_first": "Ada", "2_last": "Lovelace"})
    sid = created["submissionID"]
    more = client.create_form_submissions(form_id, json.dumps([{"1": "Red"}, {"1": "Green"}]))
    check(len(more) == 2, "create_form_submissions (PUT JSON)")
    listed = client.get_form_submissions(form_id, limit=2, order_by="created_at")
    check(len(listed) == 2, "get_form_submissions honours limit")
    everything = client.get_form_submissions(form_id, filterArray={"status:ne": "DELETED"})
    check(len(everything) == 3, "get_form_submissions with a filter")
    got = client.get_submission(sid)
    check(got["answers"]["2"]["answer"] == {"first": "Ada", "last": "Lovelace"}, "get_submission answers by qid")
    check(got["answers"]["1"]["prettyFormat"] == "Blue", "prettyFormat")
    client.edit_submission(sid, {"1": "Purple", "flag": "1"})
    edited = client.get_submission(sid)
    check(edited["answers"]["1"]["answer"] == "Purple" and edited["flag"] == "1", "edit_submission")
    check(edited["answers"]["2"]["answer"]["first"] == "Ada", "an edit keeps the other answers")
    across = client.get_submissions(filterArray={"formIDs": [form_id]})
    check(len(across) == 3, "get_submissions across forms")
    client.delete_submission(sid)
    refused(lambda: client.get_submission(sid), 404, "a deleted submission is gone")

    client.create_form_webhook(form_id, "https://hooks.example/in")
    hooks = client.get_form_webhooks(form_id)
    check(list(hooks.values()) == ["https://hooks.example/in"], "get_form_webhooks")
    left = client.delete_form_webhook(form_id, list(hooks.keys())[0])
    check(left == {}, "delete_form_webhook")

    client.set_form_properties(form_id, {"height": "600"})
    check(client.get_form_property(form_id, "height") == {"height": "600"}, "form properties")
    check(client.get_form_properties(form_id)["title"] == "Python intake", "get_form_properties")
    check(client.get_form_files(form_id) == [], "get_form_files")
    check(client.get_form_reports(form_id) == [], "get_form_reports")
    copy = client.clone_form(form_id)
    check(copy["title"] == "Python intake (copy)", "clone_form")

    folder = client.create_folder({"name": "Python folder"})
    client.add_form_to_folder(folder["id"], form_id)
    check(form_id in client.get_folder(folder["id"])["forms"], "add_form_to_folder")
    check(any(f["id"] == folder["id"] for f in client.get_folders()["subfolders"]), "get_folders")
    client.delete_folder(folder["id"])
    refused(lambda: client.get_folder(folder["id"]), 404, "a deleted folder is gone")

    history = client.get_history()
    kinds = {entry["type"] for entry in history}
    check({"form.create", "submission.create", "submission.read", "submission.delete"} <= kinds, "get_history")

    deleted = client.delete_form(form_id)
    check(deleted["status"] == "DELETED", "delete_form")

    refused(lambda: JotformAPIClient("sf_wrong_key", baseUrl=base).get_user(), 401, "a wrong key is refused")
    print(f"jotform client: {checks} checks passed")


if __name__ == "__main__":
    main()
