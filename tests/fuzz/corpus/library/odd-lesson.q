q=&&sort=-subject&offset=999999999
{"status":"recording","upload":{"state":"uploading"},"started_at":"2026-12-0"}