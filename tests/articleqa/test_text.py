from articleqa.text import content_words, normalize_space, split_sentences


def test_offsets_are_exact_and_abbreviations_do_not_split():
    text = 'Mr. Smith met Dr. Jones in the U.S. capital. They paid $3.5 million.\n"We agreed," he said. Done!'
    spans = split_sentences(text, offset=10)
    assert [s.text for s in spans] == [
        "Mr. Smith met Dr. Jones in the U.S. capital.",
        "They paid $3.5 million.",
        '"We agreed," he said.',
        "Done!",
    ]
    for s in spans:
        assert text[s.start - 10 : s.end - 10] == s.text


def test_line_breaks_end_sentences_and_space_is_normalised():
    spans = split_sentences("BEIJING\nXi met Kim")
    assert [s.text for s in spans] == ["BEIJING", "Xi met Kim"]
    assert normalize_space("a  \t b\r\n\r\n\n c ") == "a b\nc"


def test_content_words_drop_stopwords():
    assert content_words("Who accompanied Kim to the parade?") == ["accompanied", "kim", "parade"]
