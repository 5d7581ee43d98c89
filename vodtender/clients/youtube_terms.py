"""YouTube's error reasons the pipeline tells apart and a video's address, without loading the
Google client (~20 MB): `vodtender status` and a download-only uploader read them too."""

UPLOAD_LIMIT_REASON = "uploadLimitExceeded"  # the channel's count of uploads per day, not the project's units
QUOTA_REASONS = ("quotaExceeded", UPLOAD_LIMIT_REASON, "dailyLimitExceeded")
WATCH_URL = "https://www.youtube.com/watch?v={id}"  # a video's page (`vods.youtube_url` is part 1's)
