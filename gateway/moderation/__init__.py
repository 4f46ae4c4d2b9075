"""Moderation: the pipeline that turns texts into a decision, the stream moderator that
holds back unchecked text, language detection, AI-content labels and user sanctions. No
HTTP here; ``gateway.http`` calls in."""
