from assistant.llm.pseudonymise import Pseudonymiser, looks_like_person


def test_round_trip_and_patterns() -> None:
    p = Pseudonymiser({"Sarah Jones": "PERSON", "Northbridge Council": "ORG"}).session()
    text = ("Sarah Jones (Northbridge Council) said Jones rang 07700 900123, NHS 943 476 5919, "
            "sarah@example.org, NE1 4LP.")
    enc = p.encode(text)
    for secret in ("Sarah", "Jones", "Northbridge", "07700", "943 476 5919", "sarah@example.org", "NE1 4LP"):
        assert secret not in enc
    assert "[PERSON_1]" in enc and "[EMAIL_1]" in enc and "[NHS_1]" in enc and "[POSTCODE_1]" in enc
    assert p.decode(enc) == text


def test_stable_tokens_across_sessions() -> None:
    base = Pseudonymiser({"Tom Okafor": "PERSON", "Ann Lee": "PERSON"})
    assert base.session().encode("Ann Lee met Tom Okafor") == base.session().encode("Ann Lee met Tom Okafor")


def test_speaker_labels() -> None:
    assert looks_like_person("Sarah Jones") and looks_like_person("Dr Patel")
    assert not looks_like_person("Interviewer") and not looks_like_person("P3") and not looks_like_person("Participant")


def test_names_are_caught_whatever_their_case_and_map_back_to_the_source_spelling() -> None:
    p = Pseudonymiser({"Sarah Jones": "PERSON", "Leeds Teaching Hospitals": "ORG", "Jo Whitfield": "PERSON"}).session()
    text = "SARAH said sarah jones works at leeds teaching hospitals; Jo agreed, so it is."
    enc = p.encode(text)
    for secret in ("sarah", "jones", "leeds", "Jo "):
        assert secret not in enc.lower() if secret != "Jo " else secret not in enc
    assert "so it is" in enc  # ordinary two-letter words are left alone
    assert p.decode(enc) == text


def test_lower_case_participant_attribute_is_a_name() -> None:
    assert looks_like_person("sarah jones", require_capitals=False)
    assert not looks_like_person("sarah jones")
    assert not looks_like_person("p3", require_capitals=False)
