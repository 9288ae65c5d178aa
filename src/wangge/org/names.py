"""Deterministic synthetic Chinese names for demo staff (never real people)."""

from __future__ import annotations

import random
from itertools import accumulate

# Common surnames with rough relative frequencies (the top of the national ranking dominates).
SURNAMES = (
    ("王", 72), ("李", 70), ("张", 66), ("刘", 53), ("陈", 45), ("杨", 31), ("赵", 20),
    ("黄", 19), ("周", 18), ("吴", 17), ("徐", 14), ("孙", 13), ("胡", 12), ("朱", 12),
    ("高", 11), ("林", 10), ("何", 10), ("郭", 10), ("马", 9), ("罗", 8), ("梁", 7),
    ("宋", 7), ("郑", 7), ("谢", 6), ("韩", 6), ("唐", 5), ("冯", 5), ("于", 5), ("董", 5),
    ("萧", 4), ("程", 4), ("曹", 4), ("袁", 4), ("邓", 4), ("许", 4), ("傅", 3), ("沈", 3),
    ("曾", 3), ("彭", 3), ("吕", 3), ("苏", 3), ("卢", 3), ("蒋", 3), ("蔡", 3), ("贾", 3),
    ("丁", 2), ("魏", 3), ("薛", 2), ("叶", 2), ("阎", 2), ("余", 2), ("潘", 2), ("杜", 2),
    ("戴", 2), ("夏", 2), ("钟", 2), ("汪", 2), ("田", 2), ("任", 2), ("姜", 2), ("范", 2),
    ("方", 2), ("石", 2), ("姚", 2), ("谭", 1), ("廖", 1), ("邹", 1), ("熊", 1), ("金", 1),
    ("陆", 1), ("郝", 2), ("孔", 1), ("白", 1), ("崔", 2), ("康", 1), ("毛", 1), ("邱", 1),
    ("秦", 1), ("江", 1), ("史", 2), ("顾", 1), ("侯", 1), ("邵", 1), ("孟", 2), ("龙", 1),
    ("万", 1), ("段", 1), ("雷", 1), ("钱", 1), ("汤", 1), ("尹", 1), ("黎", 1), ("易", 1),
    ("常", 1), ("武", 1), ("乔", 1), ("牛", 2), ("申", 1), ("靳", 1),
)
MALE_CHARS = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆亮建国志新文昊晨宏立海峰振东"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀玲桂英华红梅琳雪颖慧婷倩洁丹萍燕晶璐佳莉月薇瑶欣怡"
NEUTRAL_CHARS = "子一晓文天小春永宁安嘉雨思云"

_SURNAMES = tuple(s for s, _ in SURNAMES)
_CUMULATIVE = tuple(accumulate(w for _, w in SURNAMES))


def synthetic_name(rng: random.Random, gender: str) -> str:
    """A plausible two- or three-character name for ``gender`` ("M" or "F")."""
    surname = rng.choices(_SURNAMES, cum_weights=_CUMULATIVE)[0]
    chars = MALE_CHARS if gender == "M" else FEMALE_CHARS
    if rng.random() < 0.3:
        return surname + rng.choice(chars)
    first = rng.choice(NEUTRAL_CHARS + chars) if rng.random() < 0.4 else rng.choice(chars)
    return surname + first + rng.choice(chars)
