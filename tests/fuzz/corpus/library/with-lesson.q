q=英&sort=duration_s
{"title":"x","teacher":"Li","subject":"math","status":"complete","started_at":"2026-12-05T09:00:00Z","duration_s":60}