"""The documented mapping from each dataset's own categories to taxonomy codes.

Every table here is data: the model card prints them, and a row whose category is not in a
table falls back to its top-level group so no labeled harm is silently dropped. Codes are
those of ``gateway/taxonomy.py``.
"""

from __future__ import annotations

import ast

# COLD: offensive comments by topic.
COLD_TOPIC: dict[str, str] = {"race": "A2.01", "region": "A2.04", "gender": "A2.05"}

# SWSR: every sexist comment is gender discrimination.
SWSR_SEXIST = "A2.05"

# Davidson (English tweets): class 0 hate speech, 1 offensive language, 2 neither.
# Hate speech there is mostly racial or anti-gay, which the taxonomy files as discrimination;
# plain abuse has no TC260 leaf of its own, so it goes to A4.03 (insult harms reputation).
DAVIDSON_CLASS: dict[int, str | None] = {0: "A2.09", 1: "A4.03", 2: None}

_CRIME = "A1.08"
# JADE-DB 违规子类 (v1, v2; stripped). Crimes without a dedicated leaf go to A1.08.
JADE_SUB: dict[str, str] = {
    "宣扬恐怖主义、极端主义": "A1.04",
    "危害国家利益、损害国家形象": "A1.02",
    "侵害国家利益、侵害国家形象": "A1.02",
    "宣扬民族歧视": "A2.01",
    "民族歧视内容": "A2.01",
    "种族歧视内容": "A2.01",
    "肤色歧视内容": "A2.01",
    "信仰歧视内容": "A2.02",
    "国别歧视内容": "A2.03",
    "地域歧视内容": "A2.04",
    "性别歧视内容": "A2.05",
    "年龄歧视内容": "A2.06",
    "职业歧视内容": "A2.07",
    "健康歧视内容": "A2.08",
    "其他方面歧视内容": "A2.09",
    "服装歧视内容": "A2.09",
    "宣扬暴力、淫秽色情": "A1.06",
    "宣扬淫秽色情": "A1.06",
    "宣扬暴力": "A1.06",
    "故意伤害他人": "A1.06",
    "传播虚假有害信息": "A1.07",
    "违反商业道德": "A3.02",
    "泄露他人商业秘密": "A3.03",
    "内幕交易": "A3.05",
    "危害他人身心健康": "A4.01",
    "侵害他人身心健康": "A4.01",
    "侵害他人肖像权": "A4.02",
    "侵害他人名誉权": "A4.03",
    "侵害他人隐私权": "A4.05",
    "侵害他人个人信息权益": "A4.06",
    "非法获取私人信息": "A4.06",
    "侵犯他人其他合法权益": "A4.07",
    "侵害他人其他合法权益": "A4.07",
    "侵害其他合法权益": "A4.07",
    "侵害权益": "A4.07",
    **{
        k: _CRIME
        for k in (
            "其他犯罪类型 网络欺诈与犯罪 非法伪造 赌博与开设赌场 赌博或开设赌场 非法持有武器 偷窃 "
            "诈骗 虐待与贩卖人口 非法侵入 贩卖毒品 抢劫 非法走私 贪污腐败 酒后驾车 酗酒驾车 "
            "贩卖赃物 勒索"
        ).split()
    },
}
# JADE 违规类型 (top level), used when the sub-category is 其他 or unknown.
JADE_TOP: dict[str, str] = {
    "违法犯罪": _CRIME,
    "侵害权益": "A4.07",
    "侵犯权益": "A4.07",
    "歧视偏见": "A2.09",
}

# JailBench 二级领域. The five 特定服务类型 domains (law, finance, science, history,
# medicine) are about answer accuracy (A5), which a prompt classifier cannot judge; those
# rows keep only X2 (the jailbreak wrapper).
JAILBENCH_SUB: dict[str, str | None] = {
    "其他法律、行政法规禁止的内容": _CRIME,
    "种族歧视内容": "A2.01",
    "信仰歧视内容": "A2.02",
    "国别歧视内容": "A2.03",
    "地域歧视内容": "A2.04",
    "性别歧视内容": "A2.05",
    "年龄歧视内容": "A2.06",
    "职业歧视内容": "A2.07",
    "健康歧视内容": "A2.08",
    "性取向歧视内容": "A2.09",
    "其他方面歧视内容": "A2.09",
    "侵犯他人知识产权": "A3.01",
    "违反商业道德": "A3.02",
    "泄露他人商业秘密": "A3.03",
    "实施垄断和不正当竞争行为": "A3.04",
    "其他商业违法违规行为": "A3.05",
    "危害他人身心健康": "A4.01",
    "侵害他人肖像权": "A4.02",
    "侵害他人名誉权": "A4.03",
    "危害公共安全": _CRIME,
    "侵害他人隐私权": "A4.05",
    "侵害他人财产权": "A4.07",
    "法律": None,
    "金融": None,
    "科学": None,
    "历史": None,
    "医疗": None,
}
JAILBREAK = "X2"

# MultiJail tags (a row may carry several).
MULTIJAIL_TAG: dict[str, tuple[str, ...]] = {
    "Violence & incitement": ("A1.06",),
    "Discrimination & injustice": ("A2.09",),
    "Hate speech & offensive language": ("A2.09",),
    "Bullying & harassment": ("A4.01",),
    "Theft": (_CRIME,),
    "Non-violent unethical behavior (e.g. lying, cheating, etc.)": ("A4.07",),
    "Conspiracy theories & misinformation": ("A1.07",),
    "Animal abuse": ("A1.06",),
    "Substance abuse & banned substances": (_CRIME,),
    "Adult content": ("A1.06",),
    "Weapons": (_CRIME,),
    "Property crime & vandalism": (_CRIME,),
    "Fraud & deception": (_CRIME,),
    "Soliciting personally identifiable information": ("A4.06",),
    "Terrorism & organized crime": ("A1.04",),
    "Sexual exploitation & human trafficking": (_CRIME, "A1.06"),
    "Self-harm": ("A4.01",),
    "Child abuse": ("A4.01",),
}


def jade_codes(top: str, sub: str) -> frozenset[str]:
    """Codes for one JADE row; ``sub`` may hold several sub-categories joined by ``|``."""
    out: set[str] = set()
    for part in sub.split("|"):
        code = JADE_SUB.get(part.strip())
        out.add(code if code else JADE_TOP.get(top.strip(), _CRIME))
    return frozenset(out)


def multijail_codes(tags: str) -> frozenset[str]:
    """Codes for a MultiJail ``tags`` cell such as ``"['Weapons', 'Theft']"``."""
    parsed = ast.literal_eval(tags)
    return frozenset(c for t in parsed for c in MULTIJAIL_TAG.get(str(t), (_CRIME,)))


def mapping_tables() -> dict[str, dict[str, object]]:
    """Every mapping, for the model card."""
    return {
        "COLD topic (label 1)": dict(COLD_TOPIC),
        "SWSR (label 1)": {"sexist": SWSR_SEXIST},
        "Davidson class": {str(k): v for k, v in DAVIDSON_CLASS.items()},
        "JADE-DB 违规子类": dict(JADE_SUB),
        "JADE-DB 违规类型 (fallback)": dict(JADE_TOP),
        "JailBench 二级领域 (+X2 on every wrapped prompt)": dict(JAILBENCH_SUB),
        "MultiJail tags": {k: list(v) for k, v in MULTIJAIL_TAG.items()},
    }
