"""URL slugs from titles and tag names: Unicode-aware, in a few lines of unicodedata.

Latin letters lose their accents ("Café" → "cafe"); other scripts keep their letters
("Привет мир" → "привет-мир", "東京" → "東京"), which browsers show as typed and url_for
percent-encodes. Anything that is not a letter or digit becomes one hyphen.
"""

from __future__ import annotations

import re
import unicodedata

_HYPHENS = re.compile(r"-{2,}")
_TAG_PUNCTUATION = frozenset(".+#-_")
_SPACES = re.compile(r"\s+")
FALLBACK = "post"


def slugify(text: str, max_length: int = 80, fallback: str = FALLBACK) -> str:
    """A lower-case, hyphenated slug of at most `max_length` characters (never empty)."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept: list[str] = []
    previous_base = ""
    for char in decomposed:
        # Drop a combining mark only on an ASCII letter (é → e); Devanagari vowel signs, Hangul
        # jamo and the like are part of the word.
        if unicodedata.combining(char) and previous_base.isascii():
            continue
        kept.append(char)
        if not unicodedata.combining(char):
            previous_base = char
    composed = unicodedata.normalize("NFKC", "".join(kept)).lower()
    # Letters, digits and combining marks (virama, vowel signs) make words; the rest separates.
    word = "".join(c if unicodedata.category(c)[0] in "LNM" else "-" for c in composed)
    slug = _HYPHENS.sub("-", word).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        # Cut at a hyphen when one is near the end, so no word is chopped in half.
        slug = cut.rsplit("-", 1)[0] if "-" in cut[max_length // 2 :] else cut
        slug = slug.strip("-")
    return slug or fallback


def with_suffix(slug: str, n: int, max_length: int) -> str:
    """The n-th alternative for a slug that is taken: "title-2", "title-3", ..."""
    suffix = f"-{n}"
    return slug[: max_length - len(suffix)].rstrip("-") + suffix


class TagNameInvalid(ValueError):
    pass


def normalise_tag_name(raw: str, max_length: int) -> str:
    """One spelling per tag: NFKC, lower case, inner spaces as hyphens.

    Raises TagNameInvalid (with a message for people) for an empty or over-long name, or one
    with characters other than letters, digits and . + # - _.
    """
    name = _SPACES.sub("-", unicodedata.normalize("NFKC", raw).strip()).lower().strip("-")
    if not name:
        raise TagNameInvalid("A tag cannot be empty.")
    if len(name) > max_length:
        raise TagNameInvalid(f"A tag has at most {max_length} characters.")
    # Letters, digits and combining marks of any script ("i̇stanbul" keeps its dot).
    if not all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNM" for c in name):
        raise TagNameInvalid("Tags use letters, digits and . + # - only.")
    return name
