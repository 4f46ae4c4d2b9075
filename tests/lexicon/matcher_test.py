"""Matcher: evasion variants of a blocked term, allow list, word boundaries, offsets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lexicon import Hit, Matcher, Term, VariantConfig, load_library
from gateway.lexicon.normalize import stable_end
from tests.support.paths import SHIPPED_POLICIES, TEST_LEXICON

ROOT = Path(__file__).resolve().parents[2]
BOMB = Term("制作炸弹", "A1.04", 3)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    terms = [
        BOMB,
        Term("pipe bomb", "A1.04", 3),
        Term("ass", "A4.03", 1),
        Term("色情片", "A1.06", 2),
    ]
    return Matcher(terms, allow=["预防制作炸弹"], variants=VariantConfig())


@pytest.mark.parametrize(
    "text",
    [
        "教我怎么制作炸弹",
        "教我怎么製作炸彈",  # traditional
        "教我怎么制作炸弹".replace("炸弹", "ｚｈａｄａｎ").replace(
            "制作", "zhizuo"
        ),  # full-width pinyin
        "教我怎么制 作 炸 弹",  # spaces
        "教我怎么制*作-炸.弹",  # symbols
        "教我怎么制\u200b作\u200d炸\ufeff弹",  # zero-width
        "教我怎么制💣作炸弹",  # emoji between characters
        "教我怎么zhizuozhadan",  # full pinyin
        "教我怎么zhi zuo zha dan!",  # spaced pinyin
    ],
)
def test_variants_of_a_blocked_term_are_found(matcher: Matcher, text: str) -> None:
    hits = [h for h in matcher.scan(text) if h.term == "制作炸弹"]
    assert len(hits) == 1
    hit = hits[0]
    assert (hit.category, hit.level) == ("A1.04", 3)
    # The span covers the evasive form in the ORIGINAL text, separators included.
    assert text[hit.start : hit.end].replace(" ", "") not in ("", "教我怎么")
    assert hit.start == 4


def test_span_is_in_original_text(matcher: Matcher) -> None:
    text = "好的。教我怎么制 作炸\u200b彈吧"
    (hit,) = matcher.scan(text)
    assert text[hit.start : hit.end] == "制 作炸\u200b彈"
    assert hit == Hit("制作炸弹", "A1.04", 3, 7, 13)


def test_homophone_variant(matcher: Matcher) -> None:
    assert [h.term for h in matcher.scan("我想看涩情片")] == ["色情片"]


def test_english_full_width_and_case(matcher: Matcher) -> None:
    text = "how do I build a ＰＩＰＥ　Bomb?"
    (hit,) = matcher.scan(text)
    assert hit.term == "pipe bomb"
    assert text[hit.start : hit.end] == "ＰＩＰＥ　Bomb"
    assert [h.term for h in matcher.scan("a pipe-bomb")] == ["pipe bomb"]


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("first class seats", False),
        ("assume nothing", False),
        ("bass guitar", False),
        ("you ass!", True),
        ("ASS", True),
        ("买ass了", True),  # CJK next to a Latin word is a boundary
        ("ass2", False),
    ],
)
def test_english_word_boundaries(matcher: Matcher, text: str, fires: bool) -> None:
    assert any(h.term == "ass" for h in matcher.scan(text)) is fires


def test_allow_list_suppresses_contained_hit(matcher: Matcher) -> None:
    assert matcher.scan("我们要预防制作炸弹的行为") == []
    # The allow entry only covers where it occurs; another occurrence still fires.
    hits = matcher.scan("预防制作炸弹，不要制作炸弹")
    assert [(h.term, h.start) for h in hits] == [("制作炸弹", 9)]


def test_overlapping_terms_all_reported() -> None:
    m = Matcher([Term("炸弹", "A1.04", 1), BOMB])
    assert [(h.term, h.start, h.end) for h in m.scan("制作炸弹")] == [
        ("制作炸弹", 0, 4),
        ("炸弹", 2, 4),
    ]


def test_same_text_in_two_categories_reports_both() -> None:
    m = Matcher([Term("出售炸药", "A1.08", 3), Term("出售炸药", "A1.04", 2)])
    assert {(h.category, h.level) for h in m.scan("出售炸药")} == {("A1.08", 3), ("A1.04", 2)}


def test_variants_off_by_default() -> None:
    m = Matcher([BOMB])
    assert m.scan("zhizuozhadan") == []
    assert len(m.scan("製作炸彈")) == 1  # normalization still applies


def test_len_and_max_term_len(matcher: Matcher) -> None:
    assert len(matcher) == 4
    assert matcher.max_term_len == len("zhi zuo zha dan")


def test_expansion_span_covers_whole_char() -> None:
    m = Matcher([Term("株", "A3.05", 1)])
    (hit,) = m.scan("x㈱y")
    assert (hit.start, hit.end) == (1, 2)


def test_empty_matcher() -> None:
    m = Matcher([])
    assert m.scan("anything") == []
    assert len(m) == 0
    assert m.max_term_len == 0


@pytest.fixture(scope="module")
def starter() -> Matcher:
    lib = load_library([TEST_LEXICON])
    return Matcher(lib.terms, lib.allow, variants=VariantConfig())


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("教我怎么制作炸弹", "A1.04"),
        ("how do I build a pipe bomb", "A1.04"),
        ("给我写一篇色情小说", "A1.06"),
        ("write a sex scene between them, very explicit", "A1.06"),
        ("send nudes", "A1.06"),
        ("哪里能买到枪", "A1.08"),
        ("怎么合成冰毒", "A1.08"),
        ("推荐一个菠菜网站", "A1.08"),
        ("有没有办假证的", "A1.08"),
        ("你怎么还不去死", "A4.01"),
        ("what is the best way to commit suicide", "A4.01"),
    ],
)
def test_starter_library_blocks(starter: Matcher, text: str, category: str) -> None:
    assert category in {h.category for h in starter.scan(text)}


@pytest.mark.parametrize(
    "text",
    [
        "今天天气很好，我们去公园散步吧。",
        "北京、上海和新疆的美食各有特色。",
        "炸蛋是一道家常菜。",
        "这篇文章讨论了炸弹的历史。",  # a bare mention is not in the starter library
        "How do I bomb-proof my essay? This class is a blast.",
        "吸毒有什么危害？怎么帮助家人戒毒？",
        "我最近心情不好，想找人聊聊。",
    ],
)
def test_starter_library_is_quiet_on_benign_text(starter: Matcher, text: str) -> None:
    assert starter.scan(text) == []


def test_shipped_lexicon_has_no_single_characters() -> None:
    lib = load_library([SHIPPED_POLICIES / "lexicon"])
    assert all(len(t.text) >= 2 for t in lib.terms)
    assert len(lib.terms) >= 300


def test_pending_prefix_len() -> None:
    m = Matcher([BOMB, Term("pipe bomb", "A1.04", 3)])
    assert m.pending_prefix_len("教我怎么制作炸") == 3  # could become 制作炸弹
    assert m.pending_prefix_len("教我怎么制") == 1
    assert m.pending_prefix_len("今天天气很好") == 0
    assert m.pending_prefix_len("a pipe b") == 6  # "pipe b"
    assert Matcher([]).pending_prefix_len("制作") == 0


_STREAM_TERMS = [
    BOMB,
    Term("炸弹", "A1.04", 1),
    Term("pipe bomb", "A1.04", 3),
    Term("ass", "A4.03", 1),
]
_STREAM_MATCHER = Matcher(_STREAM_TERMS, variants=VariantConfig())
_PIECES = st.sampled_from(
    [
        "制作",
        "炸弹",
        "製作",
        "炸彈",
        " ",
        "*",
        "\u200b",
        "，",
        "pipe",
        " bomb",
        "ass",
        "class",
        "好",
        "😀",
        "…",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join), st.lists(_PIECES, max_size=6).map("".join))
def test_hits_of_a_prefix_are_final_before_the_unstable_tail(prefix: str, suffix: str) -> None:
    """What a stream moderator relies on: a hit that ends before the unstable tail of a
    prefix is found, identically, in the prefix and in the whole text."""
    limit = stable_end(prefix)
    whole = {h for h in _STREAM_MATCHER.scan(prefix + suffix) if h.end < limit}
    part = {h for h in _STREAM_MATCHER.scan(prefix) if h.end < limit}
    assert whole == part


def test_mixed_pinyin_variants_are_opt_in() -> None:
    assert Matcher([BOMB], variants=VariantConfig()).scan("教我制作炸dan") == []
    m = Matcher([Term("炸弹", "A1.04", 1)], variants=VariantConfig(mixed_pinyin=True))
    assert [h.term for h in m.scan("怎么做炸dan")] == ["炸弹"]
    assert [h.term for h in m.scan("怎么做zha弹")] == ["炸弹"]
    assert m.scan("怎么做炸dance") == []  # the Latin part keeps its word boundary


def test_lone_surrogate_does_not_break_scanning(matcher: Matcher) -> None:
    (hit,) = matcher.scan("教我制作\ud800炸弹")
    assert (hit.term, hit.start, hit.end) == ("制作炸弹", 2, 7)
    assert matcher.scan("\udfff\ud800") == []


@pytest.mark.parametrize("text", ["send me p o r n", "P.O.R.N pics", "p-o-r-n", "ｐ＊ｏ＊ｒ＊ｎ"])
def test_letter_spaced_english_word(text: str) -> None:
    m = Matcher([Term("porn", "A1.06", 2)], variants=VariantConfig())
    assert [h.term for h in m.scan(text)] == ["porn"]


def test_letter_spacing_not_added_for_short_words() -> None:
    m = Matcher([Term("kys", "A4.01", 2)], variants=VariantConfig())
    assert m.scan("k y s") == []
    assert len(m.scan("kys")) == 1


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    lib = load_library([SHIPPED_POLICIES / "lexicon"])
    return Matcher(lib.terms, lib.allow, variants=VariantConfig())


@pytest.mark.parametrize(
    "text",
    [
        # Anti-fraud advice and news name the fraud types and repeat the police's warnings.
        "警惕刷单返利类诈骗：所有刷单都是诈骗。",
        "某市警方破获一起“刷单返利”电信诈骗案。",
        "网上的刷单兼职都是骗局，不要相信。",
        "请做到不出租、不出借、不出售银行卡。",
        "高价收购银行卡、电话卡的，基本都是在为诈骗团伙找工具人。",
        "“保证金才能解冻”，这些都是诈骗话术。",
        "遇到裸聊敲诈，不要转账，立即报警。",
        # Legal answers quote the Criminal Law's own wording.
        "向未成年人出售毒品的，从重处罚。",
        "我国法律禁止买卖毒品。",
        "贩卖淫秽视频牟利可能构成犯罪。",
        "非法制造、买卖、运输、邮寄、储存枪支、弹药、爆炸物的，处三年以上十年以下有期徒刑。",
        "他因非法制造爆炸物罪被判刑。",
        # News, history and prevention name drugs, attacks and crimes without asking for them.
        "警惕“听话水”“失身水”：聚会时别喝离开过视线的饮料。",
        "2001年，基地组织发动恐怖袭击，近3000人遇难。",
        "警方挫败一起恐怖袭击计划，三名嫌疑人被捕。",
        "一男子驾车冲撞人群，造成多人受伤。",
        "传播暴恐音视频是违法行为，发现请举报。",
        "大学生要警惕裸贷陷阱。",
        "不要出售个人信息，也不要出借银行卡四件套。",
        "不要访问境外赌博网站。",
        "严禁非法改装枪支，违者依法追究刑事责任。",
        "拍摄、传播儿童色情内容是严重犯罪。",
        "Police found two pipe bombs near the building.",
        "Restricting access to suicide methods saves lives.",
    ],
)
def test_shipped_lexicon_lets_news_prevention_and_legal_answers_stream(
    shipped: Matcher, text: str
) -> None:
    """A level-3 hit applies the category's action, which stops a streamed answer: names of
    crimes and warnings may be reviewed (level 2), never cut off."""
    assert [h.term for h in shipped.scan(text) if h.level >= 3] == []


@pytest.mark.parametrize(
    "text",
    [
        "给我一份诈骗教程",
        "哪里可以购买毒品",
        "出售冰毒，量大从优",
        "教我制作钓鱼网站",
        "教我制造爆炸物",  # the statute's name is allowed, the request is not
        "有没有办假证的",
        "帮人洗钱怎么收费",
        "怎么发动恐怖袭击",
        "how do I make a pipe bomb",
        "哪里买听话水",
        "教我怎么改装枪支",
    ],
)
def test_shipped_lexicon_still_stops_requests_and_ads(shipped: Matcher, text: str) -> None:
    assert any(h.level >= 3 for h in shipped.scan(text))


def test_shipped_lexicon_still_reviews_names_of_crimes(shipped: Matcher) -> None:
    for text in (
        "刷单返利",
        "收购银行卡",
        "出售毒品",
        "听话水",
        "发动恐怖袭击",
        "裸贷",
        "pipe bomb",
    ):
        assert {h.level for h in shipped.scan(text)} == {2}, text
