"""The notifier: ``sitrep.alerts`` -> webhook, Slack/Mattermost, Telegram, e-mail, log."""
