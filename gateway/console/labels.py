"""Every word of the gateway's vocabulary as the console shows it, in Chinese and English.

The gateway speaks in codes (``block``, ``input``, ``add_term``, ``review_threshold``,
``Art. 4(1)``); compliance staff read words. Templates never print a code where a person
reads it: they call ``word(kind, code)`` (``{{ w('action', r.action) }}``), and a code this
table does not know is shown as is, so a new one is visible rather than hidden.
"""

from __future__ import annotations

import re

Pair = tuple[str, str]  # (中文, English)

ACTIONS: dict[str, Pair] = {
    "allow": ("放行", "allow"),
    "flag": ("标记", "flag"),
    "review": ("审核", "review"),
    "redact": ("脱敏", "redact"),
    "block": ("拦截", "block"),
}
ACTION_HINTS: dict[str, Pair] = {
    "allow": ("不处理", "do nothing"),
    "flag": ("放行并记录", "allow and log"),
    "review": ("放行并送人工审核", "allow and queue for a person"),
    "redact": ("遮盖命中的片段后放行", "mask the matched spans, then allow"),
    "block": ("拦截并返回拒答文本", "stop it and answer with the refusal"),
}
DIRECTIONS: dict[str, Pair] = {"input": ("输入", "input"), "output": ("输出", "output")}
ROLES: dict[str, Pair] = {
    "viewer": ("查看者", "viewer"),
    "editor": ("编辑", "editor"),
    "approver": ("审批人", "approver"),
    "admin": ("管理员", "admin"),
}
TEXT_MODES: dict[str, Pair] = {
    "none": ("不保存文本", "no text"),
    "hash": ("只保存哈希", "a hash only"),
    "redacted": ("保存脱敏文本", "redacted text"),
    "full": ("保存原文", "the full text"),
}
REVIEW_TEXT: dict[str, Pair] = {
    "redacted": ("保存脱敏文本", "redacted text"),
    "full": ("保存原文", "the full text"),
    "none": ("不额外保存", "nothing extra"),
}
VERDICTS: dict[str, Pair] = {
    "confirm": ("确认违规", "confirmed"),
    "overturn": ("推翻（未违规）", "overturned"),
}
STAGES: dict[str, Pair] = {
    "request": ("请求检查", "request"),
    "response": ("回答检查", "response"),
    "stream": ("流式输出检查", "stream"),
}
ENDINGS: dict[str, Pair] = {
    "": ("—", "—"),
    "complete": ("完整送达", "complete"),
    "blocked": ("已拦截", "blocked"),
    "client_disconnected": ("客户端中途离开", "client left"),
    "upstream_failed": ("上游不可达或中断", "upstream failed"),
    "upstream_error": ("上游报错", "upstream error"),
    "log_unavailable": ("日志不可用，已拒绝", "log unavailable"),
}
REASON_KINDS: dict[str, Pair] = {
    "keyword": ("关键词", "keyword"),
    "pattern": ("个人信息", "personal data"),
    "classifier": ("分类器", "classifier"),
    "sanction": ("用户处置", "user sanction"),
    "unavailable": ("分类器不可用", "classifier unavailable"),
}
PII_KINDS: dict[str, Pair] = {
    "cn_id": ("身份证号", "ID card number"),
    "cn_mobile": ("手机号", "mobile number"),
    "bank_card": ("银行卡号", "bank card number"),
    "email": ("电子邮箱", "e-mail address"),
}
HOLDBACK: dict[str, Pair] = {
    "longest_term": ("按最长关键词保留", "longest term"),
    "prefix": ("只保留可能成词的尾部", "possible prefix only"),
}
GATES: dict[str, Pair] = {
    "retract": ("先发出，判定违规后撤回", "release, then retract"),
    "hold": ("判定通过后才发出", "hold until judged"),
}
LEVELS: dict[str, Pair] = {
    "3": ("三级（执行类别动作）", "level 3 (category action)"),
    "2": ("二级（送审核）", "level 2 (review)"),
    "1": ("一级（仅标记）", "level 1 (flag)"),
}
BOOLS: dict[str, Pair] = {"True": ("开", "on"), "False": ("关", "off")}
FAIL_MODES: dict[str, Pair] = {
    "closed": ("拦截（安全优先）", "block (closed)"),
    "open": ("放行并计数", "allow (open)"),
}
SHADOW_STATES: dict[str, Pair] = {
    "running": ("运行中", "running"),
    "done": ("已完成", "finished"),
    "stopped": ("已停止", "stopped"),
    "interrupted": ("已中断（网关重启）", "interrupted (gateway restarted)"),
    "stale": ("草稿已修改，已停止", "stopped: the draft changed"),
    "published": ("已发布", "published"),
    "discarded": ("已丢弃", "discarded"),
}
ADMIN_ACTIONS: dict[str, Pair] = {
    "login": ("登录", "log in"),
    "login_failed": ("登录失败", "failed login"),
    "login_throttled": ("登录被锁定", "login locked"),
    "login_rate_limited": ("登录过于频繁", "logins rate-limited"),
    "logout": ("退出", "log out"),
    "change_password": ("修改密码", "change password"),
    "change_password_failed": ("修改密码失败", "failed password change"),
    "create_user": ("新建账号", "create account"),
    "update_user": ("修改账号", "change account"),
    "edit_category": ("修改类别规则", "edit category rule"),
    "edit_default_refusals": ("修改默认拒答文本", "edit default refusals"),
    "edit_settings": ("修改设置", "edit settings"),
    "edit_tenant": ("修改租户", "edit tenant"),
    "add_tenant": ("新建租户", "add tenant"),
    "remove_tenant": ("删除租户", "remove tenant"),
    "add_tenant_key": ("为租户新建密钥", "new tenant key"),
    "revoke_tenant_key": ("吊销租户密钥", "revoke tenant key"),
    "add_term": ("添加关键词", "add keyword"),
    "remove_term": ("删除关键词", "remove keyword"),
    "import_terms": ("批量导入关键词", "import keywords"),
    "add_allow": ("添加白名单条目", "add allow entry"),
    "remove_allow": ("删除白名单条目", "remove allow entry"),
    "export_keywords": ("导出关键词", "export keywords"),
    "publish": ("发布", "publish"),
    "publish_refused": ("发布被拒绝", "publish refused"),
    "discard_draft": ("丢弃草稿", "discard draft"),
    "restore_to_draft": ("恢复为草稿", "restore as draft"),
    "review_confirm": ("审核：确认违规", "review: confirm"),
    "review_overturn": ("审核：推翻", "review: overturn"),
    "export_log": ("导出决策日志", "export decision log"),
    "report": ("生成统计报告", "statistics report"),
    "export_labels": ("导出审核标签", "export labels"),
    "report_assign": ("分配投诉工单", "assign complaint"),
    "report_answer": ("答复投诉", "answer complaint"),
    "report_close": ("办结投诉", "close complaint"),
    "export_reports": ("导出投诉工单", "export complaints"),
    "incident_create": ("新建事件记录", "create incident record"),
    "incident_update": ("修改事件记录", "update incident record"),
    "incident_export": ("导出事件记录", "export incident record"),
    "export_incidents": ("导出全部事件记录", "export incident records"),
    "dry_run": ("演练", "dry run"),
    "shadow_start": ("开始影子运行", "start shadow run"),
    "shadow_stop": ("停止影子运行", "stop shadow run"),
}
# Names of the details the admin log keeps with an action.
DETAIL_KEYS: dict[str, Pair] = {
    "category": ("类别", "category"), "level": ("级别", "level"), "input": ("输入", "input"),
    "output": ("输出", "output"), "role": ("角色", "role"), "active": ("启用", "active"),
    "rows": ("行数", "rows"), "source": ("来源", "source"), "filters": ("筛选", "filters"),
    "policy_version": ("策略版本", "policy version"), "live": ("已生效", "live"),
    "authors": ("修改人", "authors"), "why": ("原因", "why"), "status": ("状态", "status"),
    "format": ("格式", "format"), "read": ("读入", "read"), "dropped": ("丢弃", "dropped"),
    "categories": ("类别", "categories"), "section": ("设置", "section"),
    "share": ("抽样比例", "share"), "requests": ("请求数", "requests"), "run": ("影子运行", "run"),
    "changes": ("变更", "changes"), "tenant": ("租户", "tenant"), "added": ("新增", "added"),
    "hours": ("小时", "hours"), "limit": ("条数", "limit"), "key": ("密钥", "key"),
}  # fmt: skip
REPORT_VIEWS: dict[str, Pair] = {
    "active": ("未办结", "not closed"),
    "open": ("处理中", "open"),
    "overdue": ("已超期", "overdue"),
    "answered": ("已答复", "answered"),
    "closed": ("已办结", "closed"),
    "all": ("全部", "all"),
}

TICKET_EVENTS: dict[str, Pair] = {
    "create": ("创建", "created"), "update": ("修改", "updated"), "assign": ("分配", "assigned"),
    "answer": ("答复", "answered"), "close": ("办结", "closed"), "report": ("收到举报", "report"),
}  # fmt: skip
REPORT_SOURCES: dict[str, Pair] = {"api": ("应用接口", "API"), "page": ("举报页面", "report page")}
TEXT_SOURCES: dict[str, Pair] = {
    "pasted": ("举报人粘贴", "pasted by the reporter"),
    "decision": ("日志中的决策记录", "from the decision log"),
    "none": ("无", "none"),
}
LANGUAGES: dict[str, Pair] = {"zh": ("中文", "Chinese"), "en": ("英文", "English")}

_CN_NUM = "〇一二三四五六七八九"


def _cn_number(n: int) -> str:
    """1-99 in Chinese numerals (the article numbers of the measures)."""
    if n < 10:
        return _CN_NUM[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_NUM[tens]) + "十" + (_CN_NUM[ones] if ones else "")


_ARTICLE = re.compile(r"Art\.\s*([\d,\s]+)(?:\((\d+)\))?")


def article(text: str, lang: str) -> str:
    """``Art. 4(1)`` as 《生成式人工智能服务管理暂行办法》第四条第（一）项."""
    if lang == "en":
        return f"Interim Measures {text}"
    m = _ARTICLE.fullmatch(text.strip())
    if m is None:
        return text
    numbers = [int(n) for n in re.findall(r"\d+", m.group(1))]
    arts = "、".join(_cn_number(n) for n in numbers)
    out = f"《生成式人工智能服务管理暂行办法》第{arts}条"
    if m.group(2):
        # Art. 4's items are enumerated (一)(二); Art. 14's second paragraph is a 款.
        item = int(m.group(2))
        out += f"第（{_cn_number(item)}）项" if numbers == [4] else f"第{_cn_number(item)}款"
    return out


_TABLES: dict[str, dict[str, Pair]] = {
    "action": ACTIONS, "action_hint": ACTION_HINTS, "direction": DIRECTIONS, "role": ROLES,
    "text_mode": TEXT_MODES, "review_text": REVIEW_TEXT, "verdict": VERDICTS, "stage": STAGES,
    "ending": ENDINGS, "reason": REASON_KINDS, "pii": PII_KINDS, "holdback": HOLDBACK,
    "gate": GATES,
    "level": LEVELS, "bool": BOOLS, "fail_mode": FAIL_MODES, "shadow": SHADOW_STATES,
    "admin_action": ADMIN_ACTIONS, "detail": DETAIL_KEYS, "report_view": REPORT_VIEWS,
    "ticket_event": TICKET_EVENTS, "report_source": REPORT_SOURCES,
    "text_source": TEXT_SOURCES, "language": LANGUAGES,
}  # fmt: skip


def word(kind: str, code: object, lang: str) -> str:
    """The word for ``code`` of ``kind`` (``word('action', 'block', 'zh')`` is 拦截)."""
    pair = _TABLES[kind].get(str(code))
    if pair is None:
        return str(code)
    return pair[1] if lang == "en" else pair[0]


def source(text: str, lang: str) -> str:
    """Where a draft started: ``live`` or ``version N``."""
    if text == "live":
        return "the live version" if lang == "en" else "生效版本"
    m = re.fullmatch(r"version (\d+)", text)
    if m is not None:
        return text if lang == "en" else f"第 {m.group(1)} 版"
    return text


_SCORE = re.compile(r"score ([\d.]+) >= ([\d.]+)")


def reason_detail(kind: str, detail: str, lang: str) -> str:
    """A rule's detail in words: the term, the kind of personal data, score and threshold."""
    m = _SCORE.fullmatch(detail)
    if m is not None:
        if lang == "en":
            return f"score {m.group(1)} ≥ threshold {m.group(2)}"
        return f"分数 {m.group(1)} ≥ 阈值 {m.group(2)}"
    if kind == "pattern":
        return word("pii", detail, lang)
    if kind in ("sanction", "unavailable"):
        zh = {"user suspended": "用户已被暂停使用", "user restricted: escalated":
              "用户受限，加重处理", "classifier unavailable": "分类器不可用"}.get(detail)  # fmt: skip
        return detail if lang == "en" or zh is None else zh
    return detail
