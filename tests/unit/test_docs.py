from pathlib import Path

from adapter.docs import render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_the_tables_as_they_are_in_mappings():
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "README.md is out of date: run `python -m adapter.docs`"


def test_the_readme_starts_with_the_two_set_up_commands():
    blocks = [b.split("```", 1)[0].strip() for b in README.read_text(encoding="utf-8").split("```sh\n")[1:3]]
    assert "mc-adapter serve --sandbox" in blocks[0]
    assert "pytest" in blocks[1]


def test_the_implementation_guide_page_is_generated_from_the_current_profiles():
    from adapter.fhir.guide import main

    assert main(["--check"]) == 0, "fhir_profiles/guide.md is out of date: run `python -m adapter.fhir.guide`"
