"""Answer checks for questions asking for a judgement or a choice (the answer the memories lead
to stands; one taken from someone else's memory does not) and for dates an answer copies or
leaves to another line (said as the date they meant)."""

from __future__ import annotations

import pytest

from given import ev
from memlane.models.prompts import ABSTAIN, adds_nothing, chooses
from memlane.services.answer_checks import check_answer
from memlane.services.answer_lines import judges
from memlane.services.assistant import JUDGEMENT_NOTE, Answer

GIVEN = [
    ev(1, "Melanie", "2023-07-17T10:00", "We went camping by the lake last weekend, the kids "
       "loved the hike and the campfire."),
    ev(2, "Melanie", "2023-08-02T10:00", "I play Bach on the violin most evenings."),
    ev(3, "John", "2023-08-02T11:00", "I served two tours with the army and I still fly the "
       "flag at home."),
    ev(4, "Caroline", "2023-08-03T09:00", "Theme parks are too loud for me, I go hiking instead."),
]


def test_picking_one_side_of_an_either_or_question_is_an_answer() -> None:
    park = "Would Melanie be more interested in going to a national park or a theme park?"
    assert chooses("She would be more interested in going to a national park [1].", park)
    assert not adds_nothing("A national park [1].", park)
    # both sides, or neither, picks nothing: that only restates the question
    assert adds_nothing("A national park or a theme park [1].", park)
    assert adds_nothing("Melanie would be interested in going [1].", park)
    books = "Would Tim enjoy reading books by C. S. Lewis or John Greene?"
    assert chooses("Tim would enjoy books by C. S. Lewis [4].", books) == "C. S. Lewis"
    assert not chooses("John Greene and C. S. Lewis [4].", books)
    assert not chooses("A park [1].", "What park did Melanie visit?")  # no "or": no choice


def test_a_judgement_the_memories_lead_to_is_not_held_to_their_words() -> None:
    assert judges("Would John be considered a patriotic person?", "Yes, he served [3].")
    assert judges("Is it likely that Nate has friends?", "Likely no [1].")
    assert not judges("Did John serve in the army?", "Yes [3].")  # a fact, not a judgement
    # an open answer names something: the memories must hold it like any other answer
    assert not judges("What job might Maria pursue?", "A shelter coordinator [2].")
    # "patriotic" is in no line: asked for a fact, the answer cites something else
    fact = check_answer("How patriotic did John feel at the parade?",
                        "He served two tours with the army [3].", GIVEN, ["John"])
    assert fact.abstained and fact.reason == "off topic"
    judged = check_answer("Would John be considered a patriotic person?",
                          "Yes, he served two tours with the army [3].", GIVEN, ["John"])
    assert not judged.abstained and judged.reason == "judgement"
    assert judged.text == "Yes, he served two tours with the army [3]."
    # the question said again after the yes is cut, as it is from the front of any answer
    again = check_answer("Would John be considered a patriotic person?",
                         "Yes, John would be considered a patriotic person [3].", GIVEN, ["John"])
    assert again.text == "Yes [3]." and again.reason == "judgement"
    # a plain yes rests on a line that does not say it; a reason must be in the memories
    vivaldi = check_answer("Would Melanie likely enjoy The Four Seasons by Vivaldi?",
                           "Yes [2].", GIVEN, ["Melanie"])
    assert not vivaldi.abstained and vivaldi.cited == {2: "model"}
    phd = check_answer("Would Melanie likely enjoy The Four Seasons by Vivaldi?",
                       "Yes, she has a PhD in music theory from Oxford [2].", GIVEN, ["Melanie"])
    assert phd.abstained and phd.reason == "unsupported"
    # a negation is no plain yes, nor a choice
    assert check_answer("Would John be considered a patriotic person?",
                        "Yes, John would not be considered a patriotic person [3].", GIVEN,
                        ["John"]).text != "Yes [3]."
    assert not chooses("Melanie would not go to a theme park [1].",
                       "Would Melanie rather visit a national park or a theme park?")
    # a question asking for something else is not asking for a judgement
    assert not judges("Did I say I would call the electrician?", "Yes, I said so [2].")
    assert not judges("What would I need to buy at Lidl?", "No milk [1].")
    # a judgement that names something is an answer like any other
    ireland = check_answer("Which Star Wars locations would Melanie enjoy in Ireland?",
                           "A lake where she can hike [1].", GIVEN, ["Melanie"])
    assert ireland.abstained and ireland.reason == "off topic"
    # a choice answered from the person's own line stands
    park = check_answer("Would Melanie be more interested in a national park or a theme park?",
                        "A national park [1].", GIVEN, ["Melanie"])
    assert park.text == "A national park [1]." and not park.abstained
    # said around the question's words, the answer is the side it chose
    chose = check_answer("Would Melanie be more interested in a national park or a theme park?",
                         "She would be more interested in a national park [1].", GIVEN,
                         ["Melanie"])
    assert chose.text == "A national park [1]." and chose.reason == "judgement"
    books = check_answer("Would Melanie enjoy books by C. S. Lewis or John Greene?",
                         "Melanie would enjoy books by C. S. Lewis [2].", GIVEN, ["Melanie"])
    assert books.text == "C. S. Lewis [2]."


def test_a_choice_its_memories_speak_against_abstains() -> None:
    hills = [ev(1, "Ana", "2026-11-30T18:00", "We went hiking in the Sintra hills last weekend."),
             ev(2, "Ana", "2026-12-03T18:00", "My kids loved the zoo, we go every month.")]
    question = "Would Ana rather go to a theme park or hike in the hills?"
    wrong = check_answer(question, "To a theme park [1].", hills, ["Ana"])
    assert wrong.abstained and wrong.reason == "other side"
    right = check_answer(question, "She would rather hike in the hills [1].", hills, ["Ana"])
    assert right.text == "Hike in the hills [1]." and right.reason == "judgement"
    # resting on no memory, a choice is no answer
    bare = check_answer(question, "To a theme park.", hills, ["Ana"])
    assert bare.abstained and bare.reason == "no answer in the evidence"
    # lines naming neither side can still lead to a choice
    zoo = check_answer(question, "A theme park [2].", hills, ["Ana"])
    assert zoo.text == "A theme park [2]." and not zoo.abstained


def test_a_judgement_from_someone_elses_memory_still_abstains() -> None:
    sweden = [*GIVEN, ev(5, "Caroline", "2023-08-04T09:00", "I am moving to Sweden next year!")]
    moving = check_answer("Would Melanie consider moving to Sweden?",
                          "Yes, she is moving to Sweden next year [2][5].", sweden, ["Melanie"])
    assert moving.abstained and moving.reason == "about someone else"
    side = check_answer("Would Melanie rather move to Sweden or Norway?", "Sweden [1][5].",
                        sweden, ["Melanie"])
    assert side.abstained and side.reason == "about someone else"
    theirs = check_answer("Would Melanie be more interested in a national park or a theme park?",
                          "A national park, she goes hiking instead of theme parks [4].", GIVEN,
                          ["Melanie"])
    assert theirs.abstained and theirs.reason == "about someone else"
    assert theirs.text == ABSTAIN


def test_the_cli_says_a_judgement_is_one(capsys: pytest.CaptureFixture[str]) -> None:
    from memlane.cli.answers import _print_revision

    text = "Yes, he served two tours with the army [3]."
    answer = Answer("Would John be considered a patriotic person?", text, False, GIVEN,
                    "model", reason="judgement")
    _print_revision(answer, text)
    assert capsys.readouterr().out.splitlines() == [f"  ({JUDGEMENT_NOTE})"]
    answer.reason = ""
    _print_revision(answer, text)
    assert capsys.readouterr().out == ""


def test_an_answer_keeps_initials_in_one_sentence() -> None:
    from memlane.models.prompts import attribute

    lines = ["[1] Tue 1 Aug 2023, Tim: I just finished a book by C. S. Lewis, loved it."]
    text, added = attribute("A book by C. S. Lewis.", lines)
    assert text == "A book by C. S. Lewis [1]." and added == [1]


def test_a_date_said_relative_to_its_line_is_given_as_the_date_it_meant() -> None:
    given = [ev(1, "Joanna", "2022-01-21T10:00", "I first watched it around 3 years ago, I even "
                "got a physical copy of the movie."),
             ev(2, "Ana", "2026-11-30T10:00", "My dentist moved me to next Thursday at 9:30.")]
    assert "3 years ago (2019)" in given[0].line
    # read in 2026, "around 3 years ago" would mean 2023
    film = check_answer("When did Joanna first watch the movie?", "Around 3 years ago [1].",
                        given, ["Joanna"])
    assert film.text == "In 2019 [1]." and film.reason == ""  # the line's words: no other date
    # with the date it meant, the answer is that date, not "last" or "ago" from today
    meant = check_answer("When did Joanna first watch the movie?",
                         "Around 3 years ago (2019) [1].", given, ["Joanna"])
    assert meant.text == "In 2019 [1]." and meant.reason == ""
    # a time of day the answer gives is kept with what it said
    dentist = check_answer("When is Ana's dentist appointment?", "Next Thursday at 9:30 [2].",
                           given, ["Ana"])
    assert dentist.text == "Next Thursday at 9:30 [2]."


def test_a_line_without_a_date_goes_on_from_the_dated_one_the_model_cited() -> None:
    given = [ev(4, "John", "2023-08-09T10:00", "Last weekend I took part in a community event "
                "to raise money for a good cause."),
             ev(5, "John", "2023-08-09T10:01", "I set up a 5K charity run in our neighborhood, "
                "all for the veterans."),
             ev(6, "John", "2023-08-12T10:00", "I ran a 5K charity race with my team.")]
    question = "When did John take part in a 5K charity run?"
    answer = check_answer(question, "On 5 August 2023 [4].", given, ["John"])
    assert answer.text == "On the weekend of 5 August 2023 [4]."
    # cited from another day, the line about the run dates it
    other = check_answer(question, "On 12 August 2023 [6].", given, ["John"])
    assert other.text == "On 9 August 2023 [5]." and other.reason == "dated"
