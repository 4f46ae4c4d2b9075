"""Names of the policy's settings in words, for the change list and the validator messages.

A key path such as ``("categories", "A1.08", "input", "review_threshold")`` reads as
"类别 A1.08 违法违规…… · 输入 · 审核阈值". Paths are looked up with category codes and
tenant names replaced by ``*``.
"""

from __future__ import annotations

from gateway import taxonomy
from gateway.console.labels import Pair

FIELDS: dict[str, Pair] = {
    "name": ("策略名称", "policy name"),
    "description": ("策略说明", "description"),
    "language": ("默认语言", "default language"),
    "refusal": ("默认拒答文本（输入被拦截时）", "default refusal (blocked input)"),
    "output_refusal": ("默认拒答文本（输出被拦截时）", "default refusal (blocked output)"),
    "block_response": ("拦截时的响应方式", "response to a block"),
    "fail_mode": ("分类器不可用时", "when the classifier is unavailable"),
    "defaults": ("未单独设置的类别", "categories without their own rule"),
    "categories": ("类别规则", "category rules"),
    "categories.*.refusal": ("拒答文本", "refusal text"),
    "zh": ("中文", "Chinese"),
    "en": ("英文", "English"),
    "input": ("输入", "input"),
    "output": ("输出", "output"),
    "enabled": ("启用", "enabled"),
    "action": ("动作", "action"),
    "threshold": ("阈值", "threshold"),
    "review_threshold": ("审核阈值", "review threshold"),
    "flag_threshold": ("标记阈值", "flag threshold"),
    "lexicon": ("关键词库", "keyword library"),
    "lexicon.files": ("关键词文件", "term files"),
    "lexicon.allow_files": ("白名单文件", "allow-list files"),
    "lexicon.terms": ("策略内的关键词", "inline terms"),
    "lexicon.normalize": ("文本归一化", "normalization"),
    "lexicon.variants": ("变体匹配", "variant matching"),
    "pinyin": ("拼音", "pinyin"),
    "homophones": ("同音字", "homophones"),
    "pii": ("个人信息检测", "personal data detection"),
    "pii.kinds": ("检测的类型", "kinds"),
    "pii.input_action": ("输入中发现时", "action on input"),
    "pii.output_action": ("输出中发现时", "action on output"),
    "pii.mask": ("遮盖文字", "mask"),
    "stream": ("流式输出", "streaming"),
    "stream.holdback": ("保留方式", "hold-back"),
    "stream.check_every_chars": ("每新增多少字检查一次", "check every N characters"),
    "stream.check_on_punctuation": ("句末检查", "check at sentence ends"),
    "stream.extra_holdback_chars": ("额外保留字数", "extra held-back characters"),
    "stream.classifier_window_chars": ("分类器窗口字数", "classifier window"),
    "stream.classifier_min_chars": ("分类器最少汉字数", "classifier minimum (Chinese characters)"),
    "stream.classifier_min_chars_latin": (
        "分类器最少字数（任意字符）",
        "classifier minimum (any characters)",
    ),
    "stream.classifier_gate": ("分类器判定方式", "classifier gate"),
    "classifier": ("分类器", "classifier"),
    "classifier.languages": ("分类器可拦截的语言", "classifier languages"),
    "classifier.elsewhere": ("其他语言的处理", "other languages"),
    "moderation_requests": ("客户端的审核请求", "client moderation requests"),
    "moderation_requests.allow_score_mode": ("允许只评分不拦截", "allow score-only mode"),
    "limits": ("限制", "limits"),
    "limits.max_request_chars": ("单次请求最多字数", "characters per request"),
    "routes": ("路由", "routes"),
    "routes.passthrough": ("直通路由", "pass-through routes"),
    "labels": ("人工智能生成内容标识", "AI-content labels"),
    "labels.explicit": ("显式标识", "explicit label"),
    "labels.implicit": ("隐式标识", "implicit label"),
    "text": ("文字", "text"),
    "position": ("位置", "position"),
    "content_producer": ("内容制作者", "content producer"),
    "sanctions": ("违规用户处置", "sanctions"),
    "sanctions.warn_after": ("警示条件", "warn after"),
    "sanctions.restrict_after": ("限制条件", "restrict after"),
    "sanctions.suspend_after": ("暂停条件", "suspend after"),
    "count": ("次数", "count"),
    "seconds": ("时间窗（秒）", "window (seconds)"),
    "sanctions.consecutive_suspend": ("连续违规几次即暂停", "consecutive violations to suspend"),
    "sanctions.suspend_seconds": ("暂停时长（秒）", "suspension (seconds)"),
    "sanctions.message": ("暂停时的提示", "message when suspended"),
    "sanctions.restricted_message": ("受限时的提示", "message when restricted"),
    "audit": ("决策日志", "decision log"),
    "audit.text": ("日志保存的文本", "text kept in the log"),
    "audit.review_text": ("待审记录保存的文本", "text kept for review items"),
    "audit.fail_open": ("日志不可用时继续服务", "keep serving when the log is down"),
    "reports": ("投诉举报", "complaints"),
    "reports.response_hours": ("反馈时限（小时）", "answer deadline (hours)"),
    "reports.process": ("处理流程", "handling process"),
    "reports.reasons": ("举报原因", "report reasons"),
    "reports.text": ("举报文本的保存", "text kept of reports"),
    "reports.max_text_chars": ("举报文本最多字数", "report text limit"),
    "reports.per_user": ("每位用户的举报频率", "reports per user"),
    "reports.per_source": ("每个来源的举报频率", "reports per source"),
    "tenants": ("租户", "tenants"),
    "tenants.*.api_keys_sha256": ("密钥（SHA-256 摘要）", "keys (SHA-256)"),
    "tenants.*.overrides": ("覆盖设置", "overrides"),
}


def _generic(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for i, part in enumerate(loc):
        parent = loc[i - 1] if i else None
        out.append("*" if parent in ("categories", "tenants") or isinstance(part, int)
                   else str(part))  # fmt: skip
    return tuple(out)


def _label(generic: tuple[str, ...], lang: str) -> str | None:
    # The most specific name: "pii.kinds" before "kinds".
    for start in range(len(generic)):
        pair = FIELDS.get(".".join(generic[start:]))
        if pair is not None:
            return pair[1] if lang == "en" else pair[0]
    return None


def field_name(loc: tuple[str | int, ...], lang: str) -> str:
    """A key path in words, each level named: ``类别 A1.08 … · 输入 · 审核阈值``."""
    parts: list[str] = []
    generic = _generic(loc)
    for i, part in enumerate(loc):
        parent = loc[i - 1] if i else None
        if parent == "categories" and isinstance(part, str):
            cat = taxonomy.categories().get(part)
            name = (cat.name_en if lang == "en" else cat.name_zh) if cat else ""
            parts.append(f"{part} {name}".strip())
            continue
        if parent == "tenants":
            parts.append(("tenant " if lang == "en" else "租户 ") + str(part))
            continue
        if isinstance(part, int):
            parts.append(f"#{part + 1}" if lang == "en" else f"第 {part + 1} 项")
            continue
        if i == 0 and part in ("categories", "tenants") and len(loc) > 1:
            continue  # "类别 A1.08" says it already
        label = _label(generic[: i + 1], lang)
        parts.append(label if label is not None else str(part))
    return " · ".join(parts)
