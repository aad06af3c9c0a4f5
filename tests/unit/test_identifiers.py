import pytest

from adapter.identifiers import (
    HSA_ID, HSA_ID_RIVTA, INBOX_ID, LMA_NUMMER, PERSONNUMMER, PERSONNUMMER_OID, RESERVNUMMER, SAMORDNINGSNUMMER,
    InvalidIdentifier, luhn_valid, normalise,
)

# Skatteverket's published test personnummer (never random Luhn-valid numbers).
TEST_PERSONNUMMER = "191212121212"


def test_luhn_accepts_skatteverkets_test_personnummer():
    assert luhn_valid(TEST_PERSONNUMMER[2:])


def test_personnummer_is_normalised_to_twelve_digits_and_the_hl7_sweden_system():
    assert normalise(PERSONNUMMER_OID, "19121212-1212") == (PERSONNUMMER, TEST_PERSONNUMMER)


def test_personnummer_with_a_wrong_check_digit_is_refused():
    with pytest.raises(InvalidIdentifier, match="Luhn"):
        normalise(PERSONNUMMER, "191212121213")


def test_personnummer_with_an_impossible_date_is_refused():
    with pytest.raises(InvalidIdentifier, match="date"):
        normalise(PERSONNUMMER, "191213321212")


def test_samordningsnummer_day_is_offset_by_sixty():
    with pytest.raises(InvalidIdentifier):
        normalise(SAMORDNINGSNUMMER, "191212121212")  # day 12 is not a samordningsnummer day


def test_rivta_hsa_system_is_folded_into_the_emitted_one_and_upper_cased():
    assert normalise(HSA_ID_RIVTA, " se2321000131-e000000000101 ") == (HSA_ID, "SE2321000131-E000000000101")


def test_a_value_that_is_not_an_hsa_id_is_refused():
    with pytest.raises(InvalidIdentifier):
        normalise(HSA_ID, "not-an-hsa-id")


def test_reservnummer_and_lma_nummer_are_accepted_without_luhn():
    assert normalise(RESERVNUMMER, "99001122-XY12") == (RESERVNUMMER, "99001122-XY12")
    assert normalise(LMA_NUMMER, "123456789") == (LMA_NUMMER, "123456789")


def test_inbox_identifier_normalises_its_unit_part():
    assert normalise(INBOX_ID, "se2321000131-e1#samverkan") == (INBOX_ID, "SE2321000131-E1#samverkan")


def test_unknown_systems_pass_through_unchanged():
    assert normalise("urn:example", " x ") == ("urn:example", " x ")
