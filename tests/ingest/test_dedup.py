from ingest import dedup

STORY = (
    "The central bank raised interest rates by half a point on Wednesday, its largest increase in two decades, "
    "as officials tried to tame inflation that has reached a forty year high across the country this spring."
)


def test_near_duplicate_found_distinct_story_not():
    finder = dedup.DuplicateFinder(threshold=0.8)
    finder.add("wire-1", dedup.signature(STORY))
    syndicated = STORY.replace("this spring.", "this spring, analysts said.")
    other = "A football club won the national cup after a penalty shootout in front of sixty thousand fans."
    found = finder.find("site-2", dedup.signature(syndicated))
    assert found is not None and found[0] == "wire-1" and 0.8 <= found[1] < 1.0
    assert finder.find("site-3", dedup.signature(other)) is None
    # an article is never a duplicate of its own earlier version
    assert finder.find("wire-1", dedup.signature(syndicated)) is None


def test_exact_text_hash_and_signature_round_trip():
    finder = dedup.DuplicateFinder(threshold=0.99)
    sig = dedup.signature(STORY)
    assert (dedup.decode(dedup.encode(sig)) == sig).all()
    finder.add("a", sig, text_hash="h1")
    assert finder.find("b", dedup.signature("x y z"), text_hash="h1") == ("a", 1.0)
    finder.remove("a")
    assert finder.find("b", sig, text_hash="h1") is None


def test_exact_hash_follows_adds_and_removes():
    finder = dedup.DuplicateFinder(threshold=0.99)
    other = dedup.signature("x y z")
    finder.add("a", dedup.signature(STORY), text_hash="h1")
    finder.add("c", dedup.signature(STORY), text_hash="h1")  # the same text under a second id
    finder.remove("a")
    assert finder.find("b", other, text_hash="h1") == ("c", 1.0)
    finder.add("c", dedup.signature(STORY + " More."), text_hash="h2")  # c changed: h1 no longer names it
    assert finder.find("b", other, text_hash="h1") is None
    assert finder.find("b", other, text_hash="h2") == ("c", 1.0)
