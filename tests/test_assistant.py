"""Answer plumbing with a hand-written fake model: evidence packing, citations, abstention, memory.

The real default model is exercised in ``test_model_integration.py``; here a fake with queued
replies stands in for it so the checks are exact.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from fakes import FakeModel
from given import ev
from memlane.core.settings import AnswerSettings
from memlane.memory.records import ASSISTANT_SOURCE, ConversationIn, Hit, MessageIn
from memlane.models.prompts import (
    ABSTAIN,
    EXAMPLES,
    SYSTEM,
    CitationFilter,
    attribute,
    build_messages,
    is_abstention,
)
from memlane.services.engine import Engine
from memlane.services.evidence import dedupe, evidence_line, focus

NOW = datetime.fromisoformat("2024-05-10T12:00:00").astimezone()


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).astimezone().timestamp()


@pytest.fixture
def memories(engine: Engine) -> Engine:
    rows = [
        ("2024-05-08T13:56:00", "Caroline", "I went to a LGBTQ support group yesterday and it was so powerful."),
        ("2024-05-08T14:01:00", "Melanie", "That's great! I painted a sunset with my kids last week."),
        ("2024-05-09T09:00:00", "me", "Booked the flight to Lisbon for 214 euros, the cheapest one."),
        ("2024-05-09T09:05:00", "me", "Booked the flight to Lisbon for 214 euros, the cheapest one."),
        ("2024-05-09T18:00:00", "me", "Dentist appointment moved to Thursday at 3pm."),
    ]
    msgs = tuple(MessageIn(str(i), s, t, _ts(w)) for i, (w, s, t) in enumerate(rows))
    engine.store.import_conversations([ConversationIn("jsonl", "c1", "c1", msgs[0].time, msgs)])
    engine.index.sync()
    return engine


def test_citation_filter_checks_numbers_while_streaming() -> None:
    check = CitationFilter(2)
    pieces = ["It was 214 euros [", "1", "] and [", "7][2", "]. See [$5 off] too."]
    shown = "".join(check.feed(p) for p in pieces) + check.flush()
    assert shown == "It was 214 euros [1] and [2]. See [$5 off] too."
    assert check.cited == [1, 2] and check.dropped == [7]
    check = CitationFilter(3)
    assert check.feed("both [1, 3, 9]") + check.flush() == "both [1][3]"


def test_citation_filter_drops_markup_copied_from_a_memory() -> None:
    # LoCoMo-style photo captions end many chat lines; a small model copies them.
    check = CitationFilter(7)
    pieces = ["Cyberpunk 2077 [", "shared a photo: a photo of a [dvd] shelf", "..", " [7", "]."]
    assert "".join(check.feed(p) for p in pieces) + check.flush() == "Cyberpunk 2077 [7]."
    check = CitationFilter(2)
    assert check.feed("Hoodies [2]. [shared a photo: a hood") + check.flush() == "Hoodies [2]. "
    check = CitationFilter(2)
    assert check.feed("A cake [note: cut] with coconut frosting [1].") + check.flush() == (
        "A cake  with coconut frosting [1].")


def test_recite_moves_a_citation_to_the_line_that_holds_the_answer() -> None:
    from memlane.models.prompts import recite

    lines = ["[1] Wed 6 Dec 2023, John: Learning an instrument is cool. What are you playing?",
             "[2] Wed 6 Dec 2023, Tim: I'm learning how to play the violin now.",
             "[3] Wed 6 Dec 2023, John: I hope I can hear you play the violin some day."]
    question = "What instrument is Tim learning to play?"
    text, moved = recite("Tim is learning to play the violin [1].", question, lines)
    assert text == "Tim is learning to play the violin [2]." and moved == [2]
    # A citation to a line that holds the answer stays, and so does an answer without new words.
    assert recite("The violin [3].", question, lines) == ("The violin [3].", [])
    assert recite("Tim is learning [1].", question, lines) == ("Tim is learning [1].", [])


def test_an_answer_leads_with_what_it_adds_to_the_question() -> None:
    from memlane.models.prompts import lead_with_answer as lead

    # Real answers of the default model to LoCoMo questions.
    assert lead("Rob invited John to a beginner's yoga class [2].",
                "What activity did John's colleague, Rob, invite him to?") == (
        "A beginner's yoga class [2].")
    assert lead("John's experience in New York City was amazing [4]. It was fun [4].",
                "How was John's experience in New York City?") == "Amazing [4]. It was fun [4]."
    assert lead("The book that Tim recommended to John as a good story is \"A Dance with "
                "Dragons\" [4].", "Which book did Tim recommend to John as a good story?") == (
        "\"A Dance with Dragons\" [4].")
    assert lead("Jon decided to start his dance studio because he loves dancing [1].",
                "Why did Jon decide to start his dance studio?") == (
        "Because he loves dancing [1].")
    assert lead("Ana's new phone is an iPhone 15 [2].", "What is Ana's new phone?") == (
        "An iPhone 15 [2].")
    assert lead("Ana's new phone is iPhone 15 [2].", "What is Ana's new phone?") == (
        "iPhone 15 [2].")  # not "IPhone"
    # A negation is never cut ("Jazz [1]." would say the opposite).
    assert lead("John's brother is not a fan of jazz [1].", "Is John's brother a fan of jazz?") == (
        "Not a fan of jazz [1].")
    # Left alone: one restated word, no hand-over point, more of the question to come, nothing
    # new left, a question turned around, a quotation.
    for answer, question in [
        ("John can write it down and mail it [6].", "How will John share the recipe?"),
        ("Melanie has been running longer since our last chat [3].",
         "What does Melanie say running has been great for?"),
        ("After returning from Chicago, John met his teammates on the 15th [3].",
         "When did John meet with his teammates after returning from Chicago?"),
        ("Tim's motivation to keep pushing himself to get better [3].",
         "What motivated Tim to keep pushing himself to get better?"),
        ("John's favorite character is Aragorn [7].",
         "Who is John's least favorite character from Lord of the Rings?"),
        ("Caroline recommended \"The Book of Caroline\" [6].", "What book did Caroline recommend?"),
    ]:
        assert lead(answer, question) == answer, answer


def test_attribute_cites_sentences_that_plainly_come_from_one_line() -> None:
    lines = ["[1] Thu 9 May: Booked the flight to Lisbon for 214 euros",
             "[2] Thu 9 May: Dentist appointment moved to Thursday"]
    text, added = attribute("The flight to Lisbon cost 214 euros. Have a nice day!", lines)
    assert text == "The flight to Lisbon cost 214 euros [1]. Have a nice day!"
    assert added == [1]


def test_abstention_is_recognised() -> None:
    assert is_abstention(ABSTAIN)
    assert is_abstention("Sorry, I do not have any memory of that trip.")
    assert is_abstention("")
    assert not is_abstention("You booked it on 9 May [1].")


def test_evidence_is_deduplicated_dated_and_relative_dates_resolved(memories: Engine) -> None:
    hits = memories.search("LGBTQ support group", now=NOW).hits
    caroline = next(h for h in hits if "support group" in h.snippet)
    line = evidence_line(1, caroline)
    # Chat lines give the day, not the time: a small model copied "13:56" into its answers.
    assert line.startswith("[1] Wed 8 May 2024, Caroline:")
    assert "yesterday (7 May 2024)" in line
    twice = memories.search("flight Lisbon", now=NOW).hits
    assert len([h for h in twice if "Lisbon" in h.snippet]) == 2
    assert len([h for h in dedupe(twice) if "Lisbon" in h.snippet]) == 1


def test_long_evidence_keeps_the_sentences_about_the_question() -> None:
    text = ("Hey Mel, so much has happened since we last talked and I barely know where to start. "
            "Work has been hectic with the new project and two deadlines in one week. "
            "Anyway, I finally booked the flight to Lisbon for 214 euros on Friday. "
            "It leaves at dawn. My cat has been sick all month and the vet is worried.")
    cut = focus(text, "how much was the flight to Lisbon", limit=20)
    assert "booked the flight to Lisbon for 214 euros on Friday." in cut
    assert len(cut.replace("...", "").split()) <= 20
    assert cut.startswith("... ") and "Hey Mel" not in cut
    assert "It leaves at dawn." in cut  # the next sentence fits, so it is kept
    # Without a shared word the start is kept; short text is left alone.
    assert focus(text, "dentist", limit=12).startswith("Hey Mel, so much has happened")
    assert focus("Paid 35 euros.", "museum", limit=12) == "Paid 35 euros."
    # One long sentence (OCR text has no full stops): a window around the match.
    ocr = " ".join(f"w{i}" for i in range(100)) + " Lisbon 214 EUR " + " ".join(
        f"x{i}" for i in range(100))
    window = focus(ocr, "Lisbon flight", limit=30)
    assert "Lisbon 214 EUR" in window and window.startswith("... ") and window.endswith(" ...")


def test_a_long_message_keeps_its_speaker_when_cut(engine: Engine) -> None:
    text = ("So much happened this month that I can hardly list it all here for you. " * 4
            + "I adopted a grey cat called Pixel from the shelter on Elm Street.")
    msg = MessageIn("1", "Caroline", text, _ts("2024-05-08T13:56:00"))
    engine.store.import_conversations([ConversationIn("jsonl", "c", "c", msg.time, (msg,))])
    engine.index.sync()
    hit = next(h for h in engine.search("cat Pixel shelter", now=NOW).hits if h.kind == "message")
    assert hit.snippet.startswith("Caroline: ... ")  # search's own cut keeps who said it
    line = evidence_line(1, hit, "cat Pixel shelter")
    assert line.startswith("[1] Wed 8 May 2024, Caroline: ... ") and "grey cat called Pixel" in line


def test_the_prompt_demonstrates_answers_as_earlier_turns() -> None:
    messages = build_messages("Where did I fly?", ["[1] Thu 9 May 2024, me: Flew to Lisbon."],
                              "Friday, 10 May 2024, 12:00", history=[("Hi?", "Hello [3].")])
    assert messages[0] == {"role": "system", "content": SYSTEM}
    demo = messages[1:1 + 2 * len(EXAMPLES)]
    assert [m["role"] for m in demo] == ["user", "assistant"] * len(EXAMPLES)
    assert [m["content"] for m in demo[1::2]] == [a for _, a in EXAMPLES]
    # The same prefix for every question (llama.cpp reuses it); history, then the question.
    again = build_messages("Other?", [], "Saturday, 11 May 2024, 08:00")
    assert again[: 1 + 2 * len(EXAMPLES)] == messages[: 1 + 2 * len(EXAMPLES)]
    assert messages[-3:-1] == [{"role": "user", "content": "Hi?"},
                               {"role": "assistant", "content": "Hello."}]
    assert messages[-1]["content"].endswith("Question: Where did I fly?\nAnswer:")


def test_an_answer_about_the_wrong_person_abstains(memories: Engine) -> None:
    # Only Caroline went to the support group; asked about Melanie, a small model answers from
    # Caroline's line anyway.
    model = FakeModel("Melanie went to a LGBTQ support group [1].",
                      "Caroline went to a LGBTQ support group [1].")
    assistant = memories.assistant(model=model, settings=AnswerSettings(remember=False))
    wrong = assistant.ask("Which support group did Melanie go to?", now=NOW)
    assert wrong.evidence[0].hit.speaker == "Caroline"
    assert wrong.abstained and wrong.reason == "about someone else" and not wrong.citations
    right = assistant.ask("Which support group did Caroline go to?", now=NOW)
    assert not right.abstained and [e.n for e in right.citations] == [1]


def test_a_line_asking_or_thanking_someone_is_not_their_memory() -> None:
    from memlane.services.answer_checks import check_answer

    # Caroline asks Melanie about her running: the running is Melanie's, not Caroline's
    asked = [ev(1, "Caroline", "2023-07-12T10:00", "Love that purple color! For walking or "
                                                   "running? What got you into running?"),
             ev(2, "Melanie", "2023-07-12T10:05", "Running to de-stress and clear my mind.")]
    why = "What is Caroline's reason for getting into running?"
    wrong = check_answer(why, "She loved the purple color [1].", asked, ["Caroline"])
    assert wrong.abstained and wrong.reason == "about someone else"
    # ... while what she says of it herself is hers
    told = [ev(1, "Caroline", "2023-07-12T10:00", "I got into running to clear my mind.")]
    assert not check_answer(why, "To clear her mind [1].", told, ["Caroline"]).abstained
    # John thanks Maria, then speaks of his own run for office
    thanked = [ev(1, "John", "2023-02-25T10:00", "Thanks, Maria! After my last run, I saw the "
                                                 "impact I could make through politics.")]
    office = "Why did Maria decide to run for office again?"
    assert check_answer(office, "To make an impact [1].", thanked, ["Maria"]).abstained
    assert check_answer(office, "To make an impact [1].", [ev(
        1, "John", "2023-02-25T10:00", "Thank you, Maria! I ran for office again to make an "
                                       "impact.")], ["Maria"]).abstained
    assert check_answer(office, "To make an impact [1].", [ev(
        1, "John", "2023-02-25T10:00", "Thanks for the tip, Maria. I ran for office again to "
                                       "make an impact.")], ["Maria"]).abstained
    # a line speaking to her of her, or naming her in what it tells, is still hers
    for text in ("Thanks for telling Maria, she ran for office again to make an impact.",
                 "Congrats, Maria! You ran for office again to make an impact.",
                 "Congrats, Maria! Running for office again to make an impact, great job.",
                 "I heard Maria ran for office again to make an impact.",
                 "Maria, Ana and I ran for office again to make an impact.",
                 "Who ran for office again to make an impact? Maria!"):
        line = [ev(1, "John", "2023-02-25T10:00", text)]
        assert not check_answer(office, "To make an impact [1].", line, ["Maria"]).abstained, text
    # her own statements with a question in them are hers
    for text in ("I started running to de-stress, and it really works, you know?",
                 "Running? I love it, it helps me de-stress!",
                 "Why did I start running? To de-stress. [shared a photo: shoes]"):
        line = [ev(1, "Caroline", "2023-07-12T10:00", text)]
        assert not check_answer(why, "To de-stress [1].", line, ["Caroline"]).abstained, text
    asking = [ev(1, "Caroline", "2023-07-12T10:00",
                 "I run too...what got you into running? [shared a photo: a photo of shoes]")]
    assert check_answer(why, "To de-stress [1].", asking, ["Caroline"]).abstained
    # an answer moved to the person's own line moves to what they told, not what they asked
    studio = [ev(1, "Gina", "2023-06-19T10:00", "Good luck with the dance studio opening!"),
              ev(2, "Jon", "2023-06-19T10:01", "Gina, would you come to the opening of my "
                                               "dance studio?"),
              ev(3, "Jon", "2023-06-19T10:02", "Still working on opening a dance studio.")]
    moved = check_answer("What is Jon working on opening?", "Opening a dance studio [1].",
                         studio, ["Jon"])
    assert not moved.abstained and moved.cited == {3: "overlap"}
    # a "when" answer is not dated by her question about it, nor moved to it
    dated = [ev(1, "John", "2023-07-12T10:00", "Maria, Ana and I did the marathon run "
                                               "yesterday."),
             ev(2, "Maria", "2023-08-01T10:00", "Marathon run? Would you do one again?")]
    assert check_answer("When did Maria do the marathon run?", "On 11 July 2023 [1].", dated,
                        ["Maria"]).text == "On 11 July 2023 [1]."


def test_an_answer_from_a_line_about_something_else_abstains() -> None:
    from memlane.services.answer_lines import off_topic, topic

    surf = "[3] Sun 16 Jul 2023, Tim: I don't surf, but reading a fantasy book helps me feel free."
    assert off_topic("How does Tim feel while surfing?", ["Tim"], [surf])
    dance = "[2] Fri 20 Jan 2023, Jon: Cool, Gina! I love all dances, contemporary is my top pick."
    assert off_topic("What is Jon's favorite style of painting?", ["Jon"], [dance])
    # other forms of the same word, and a month or a name in the question, are not the topic
    hike = "[4] Fri 3 Jun 2022, Joanna: I'm hiking with some buddies this weekend."
    assert not off_topic("How many hikes has Joanna been on?", ["Joanna"], [hike])
    novel = "[3] Fri 11 Aug 2023, Tim: It's a fantasy novel with a great magician."
    assert not off_topic("What genre is the novel that Tim is writing in November?", ["Tim"],
                         [novel])
    assert topic("What did Caroline do in July?", ["Caroline"]) == set()
    assert not off_topic("What did Caroline do in July?", ["Caroline"], [hike])  # nothing to test


def test_a_when_answer_takes_the_date_of_the_line_about_it(
        memories: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from memlane.cli.answers import _print_revision

    # The model gives the day the line was said; the line says the day before.
    model = FakeModel("On 8 May 2024 [1].", "She went on 7 May 2024 [1].")
    assistant = memories.assistant(model=model, settings=AnswerSettings(remember=False))
    answer = assistant.ask("When did Caroline go to the support group?", now=NOW)
    assert "yesterday (7 May 2024)" in answer.evidence[0].line
    assert answer.text == "On 7 May 2024 [1]." and not answer.abstained
    assert answer.reason == "dated" and answer.draft == "On 8 May 2024 [1]."
    assert [e.n for e in answer.citations] == [1]
    _print_revision(answer, "On 8 May 2024 [1].")
    assert capsys.readouterr().out.splitlines() == [
        "  (the draft above gave another date than the memory it is about)",
        "On 7 May 2024 [1]."]
    # the model's own words stand when its date is the line's
    right = assistant.ask("When did Caroline go to the support group?", now=NOW)
    assert right.text == "She went on 7 May 2024 [1]." and right.reason == ""


def test_a_date_answer_says_the_day_as_the_memory_said_it() -> None:
    from memlane.services.answer_checks import check_answer

    given = [
        ev(1, "Caroline", "2023-10-22T10:00", "I passed the adoption interview last Friday!"),
        ev(2, "Caroline", "2023-07-06T10:00", "We had a picnic last week, so fun."),
        ev(3, "Melanie", "2023-07-17T10:00", "We went camping last weekend, so peaceful."),
    ]
    assert "last Friday (20 October 2023)" in given[0].line
    # the person said "last Friday": the answer keeps the weekday, whoever wrote the date
    kept = check_answer("When did Caroline pass the adoption interview?",
                        "On 20 October 2023 [1].", given, ["Caroline"])
    assert kept.text == "On Friday, 20 October 2023 [1]." and kept.reason == ""
    dated = check_answer("When did Caroline pass the adoption interview?",
                         "On 22 October 2023 [1].", given, ["Caroline"])
    assert dated.text == "On Friday, 20 October 2023 [1]." and dated.reason == "dated"
    # the same day in the line's own words is said anew, not a date the model got wrong
    worded = check_answer("When did Caroline pass the adoption interview?",
                          "On Friday (20 October 2023) [1].", given, ["Caroline"])
    assert worded.text == "On Friday, 20 October 2023 [1]." and worded.reason == ""
    # "last week" is a week, not the day it starts
    week = check_answer("When did Caroline have a picnic?", "On 26 June 2023 [2].", given,
                        ["Caroline"])
    assert week.text == "In the week of 26 June 2023 [2]." and week.reason == "dated"
    assert check_answer("When did Caroline have a picnic?", "The week of 26 June 2023 [2].",
                        given, ["Caroline"]).text == "The week of 26 June 2023 [2]."
    # a year or a month the week falls in is an answer too, and a weekday is only the day's own
    assert check_answer("In which year did Caroline have a picnic?", "In 2023 [2].", given,
                        ["Caroline"]).text == "In 2023 [2]."
    run = [ev(4, "me", "2024-01-07T10:00", "I moved my long run from Saturday to today.")]
    assert check_answer("When did I do my long run?", "On 7 January 2024 [4].", run,
                        []).text == "On 7 January 2024 [4]."
    # a Saturday and the Sunday after it are a weekend
    weekend = check_answer("When did Melanie go camping?", "On 17 July 2023 [3].", given,
                           ["Melanie"])
    assert weekend.text == "On the weekend of 15 July 2023 [3]." and weekend.reason == "dated"


def test_a_when_answer_moves_to_the_persons_line_about_the_question() -> None:
    from memlane.services.answer_checks import check_answer
    from memlane.services.answer_dates import date_answer

    given = [
        ev(1, "Caroline", "2023-05-25T10:00", "Researching adoption agencies, it's a dream."),
        ev(2, "Melanie", "2023-07-07T10:00", "You applied to adoption agencies? Wow!"),
        ev(3, "Caroline", "2023-08-23T10:00", "I took the first step - I applied to adoption "
                                              "agencies last week! Big day."),
        ev(4, "Caroline", "2023-09-11T10:00", "Next month I meet them."),
    ]
    assert "last week (week of 14 August 2023)" in given[2].line
    question = "When did Caroline apply to adoption agencies?"
    verdict = check_answer(question, "On 25 May 2023 [1].", given, ["Caroline"])
    # Caroline's line with all of the topic, dated by what she said, not Melanie's line
    assert verdict.text == "In the week of 14 August 2023 [3]." and verdict.reason == "dated"
    assert verdict.cited == {3: "overlap"}
    # an answer already giving that date keeps its words; the citation moves to the line
    kept = check_answer(question, "The week of 14 August 2023 [1].", given, ["Caroline"])
    assert kept.text == "The week of 14 August 2023 [3]." and kept.reason == ""
    # not asking when, or nothing of the person's about the topic: the other checks decide
    assert date_answer("Why did Caroline apply to adoption agencies?", "A dream [1].", given,
                       ["Caroline"]) is None
    assert date_answer("When did Melanie go camping?", "On 7 July 2023 [2].", given,
                       ["Melanie"]) is None
    assert date_answer("When Caroline applied to adoption agencies, how did she feel?",
                       "Ready [3].", given, ["Caroline"]) is None
    # a month in the question: a date in that month comes first
    july = date_answer("When did Melanie talk about adoption agencies in July?",
                       "On 7 July 2023 [2].", given, [])
    assert july == ("On 7 July 2023 [2].", 2, False)
    # a number naming a thing is no date to look within ("my 2023 tax return")
    tax = [ev(1, "me", "2023-12-15T10:00", "Started collecting receipts for the tax return."),
           ev(2, "me", "2024-04-10T10:00", "Finally filed my 2023 tax return today.")]
    assert date_answer("When did I file my 2023 tax return?", "Today [2].", tax, []) == (
        "On 10 April 2024 [2].", 2, True)

    # a time the line itself writes stands: a future appointment is not the day it was said
    dentist = [ev(5, "me", "2024-05-09T10:00", "Dentist appointment moved to Thursday at 3pm.")]
    assert date_answer("When is my dentist appointment?", "Thursday at 3pm [5].", dentist,
                       []) == ("Thursday at 3pm [5].", 5, False)
    # ... and the day it was said is no answer to when it is: the other checks decide
    assert date_answer("When is my dentist appointment?", "Next week [5].", dentist, []) is None
    assert date_answer("When did I move my dentist appointment?", "Next week [5].", dentist,
                       []) == ("On 9 May 2024 [5].", 5, True)
    # a date on the wrong side of the day it was said is about something else
    called = [ev(6, "me", "2024-03-04T10:00", "Called the dentist yesterday, the appointment "
                                              "is next week.")]
    assert "yesterday (3 March 2024)" in called[0].line
    assert date_answer("When is my dentist appointment?", "On 3 March 2024 [6].", called,
                       []) == ("In the week of 11 March 2024 [6].", 6, True)
    booked = [ev(7, "me", "2026-12-01T10:00", "Booked my flight to Lisbon for next week.")]
    assert date_answer("When did I book my flight to Lisbon?", "On 1 December 2026 [7].",
                       booked, []) == ("On 1 December 2026 [7].", 7, False)
    # a day is no answer to what time, however the model wrote the time
    left = [ev(8, "me", "2024-05-09T10:00", "I left the office at 6pm.")]
    assert date_answer("What time did I leave the office?", "At 6 pm [8].", left, []) == (
        "At 6 pm [8].", 8, False)
    assert date_answer("What time did I leave the office?", "Late [8].", left, []) is None
    # a fact is dated by when it was last confirmed: no date of its own
    fact = [ev(9, "", "2024-06-20T13:56", "I renewed my passport.", kind="fact")]
    assert date_answer("When did I renew my passport?", "In June [9].", fact, []) is None

    # a screen's text is as it was read: a year in brackets there is not a resolved date
    frame = [ev(1, "", "2024-05-09T14:05", "Tax form: income (2023)", kind="frame",
                folded_until=_ts("2024-05-09T14:20"))]
    assert date_answer("When did I fill in the tax form?", "Yesterday [1].", frame, []) == (
        "On 9 May 2024, 14:05-14:20 [1].", 1, True)
    # the dates a screen shows are not when the person looked at it
    flights = [ev(2, "", "2026-12-03T09:49", "Berlin to Lisbon Fri 12 Dec Ryanair 06:25-09:05 "
                                             "EUR 89", kind="frame")]
    assert date_answer("When did I look at flights to Lisbon?", "Fri 12 Dec 06:25 [2].",
                       flights, []) == ("On 3 December 2026, 09:49 [2].", 2, True)


def test_an_answer_citing_the_other_speaker_moves_to_the_named_persons_line(engine: Engine) -> None:
    # Gina asked, Jon answered; the model cites Gina's question for what Jon said.
    said = [("Gina", "When are you opening the studio?"),
            ("Jon", "Still working on opening a dance studio."),
            ("Gina", "I sold out the limited edition hoodies.")]
    msgs = tuple(MessageIn(str(i), who, text, _ts("2024-05-08T13:56:00"))
                 for i, (who, text) in enumerate(said))
    engine.store.import_conversations([ConversationIn("jsonl", "c", "c", msgs[0].time, msgs)])
    engine.index.sync()
    answer = engine.assistant(model=FakeModel("Opening a dance studio [1]."),
                              settings=AnswerSettings(remember=False)).ask("What is Jon working on opening?", now=NOW)
    assert [e.hit.speaker for e in answer.evidence][:2] == ["Gina", "Jon"]  # in the order said
    assert not answer.abstained, answer.reason
    assert answer.text == "Opening a dance studio [2]."
    assert [(e.hit.speaker, e.cited_by) for e in answer.citations] == [("Jon", "overlap")]


def test_a_citation_to_the_wrong_line_moves_before_the_person_check(memories: Engine) -> None:
    # The model answers from Melanie's line but cites Caroline's: the citation moves to the
    # line with the answer's words, and the answer is not taken for someone else's.
    model = FakeModel("Melanie painted a sunset [1].")
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What did Melanie paint after the support group?", now=NOW)
    assert answer.evidence[0].hit.speaker == "Caroline"
    assert not answer.abstained, answer.reason
    assert [(e.hit.speaker, e.cited_by) for e in answer.citations] == [("Melanie", "overlap")]
    n = answer.citations[0].n
    # ... and the words restating the question are cut from its front (the draft keeps them).
    assert answer.text == f"A sunset [{n}]." and answer.led
    assert answer.draft == f"Melanie painted a sunset [{n}]."


def test_a_question_about_a_time_uses_what_happened_then(memories: Engine) -> None:
    # "What did I do yesterday?" shares no words with any memory; the day it names decides.
    model = FakeModel("You booked the flight to Lisbon for 214 euros [1].")
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What did I do yesterday?", now=NOW)
    assert not answer.abstained, answer.reason
    days = {datetime.fromtimestamp(e.hit.time).date().isoformat() for e in answer.evidence}
    assert days == {"2024-05-09"} and "Lisbon" in answer.citations[0].hit.snippet
    # With nothing from that day, it still abstains without asking the model.
    quiet = memories.assistant(model=FakeModel(), settings=AnswerSettings(remember=False)).ask(
        "What did I do on 1 May?", now=NOW)
    assert quiet.abstained and quiet.reason == "no relevant memories"


def test_a_fact_stands_in_for_the_message_it_was_taken_from(memories: Engine) -> None:
    from memlane.memory import facts as fx

    (msg_id,) = memories.store.sql("SELECT id FROM messages WHERE text LIKE 'Dentist%'")[0]
    with memories.store.transaction() as conn:
        fx.apply(conn, fx.FactIn("me: dentist appointment on Thursday at 3pm", "plan", 0.7, "me",
                                 _ts("2024-05-09T18:00:00"), (("message", msg_id),)),
                 fx.Decision("ADD"))
    memories.index.sync()
    assistant = memories.assistant(model=FakeModel(), settings=AnswerSettings(remember=False))
    hits, _, _ = assistant.evidence("When is the dentist appointment?", NOW)
    kinds = [h.kind for h in hits if "entist" in h.snippet]
    assert kinds == ["fact"]


def test_a_fact_without_the_day_its_message_meant_leaves_the_message_in(
        memories: Engine) -> None:
    from memlane.memory import facts as fx

    (msg_id,) = memories.store.sql("SELECT id FROM messages WHERE text LIKE '%support group%'")[0]
    said = _ts("2024-05-08T13:56:00")
    with memories.store.transaction() as conn:
        fx.apply(conn, fx.FactIn("Caroline attended a LGBTQ support group recently", "fact", 0.6,
                                 "Caroline", said, (("message", msg_id),)), fx.Decision("ADD"))
    memories.index.sync()
    assistant = memories.assistant(model=FakeModel(), settings=AnswerSettings(remember=False))
    hits, _, _ = assistant.evidence("When did Caroline go to the LGBTQ support group?", NOW)
    assert sorted(h.kind for h in hits if "support group" in h.snippet) == ["fact", "message"]
    lines = [e.line for e in assistant.pack(hits)]
    assert any("yesterday (7 May 2024)" in line for line in lines)
    # A fact that keeps the day stands in for the message.
    with memories.store.transaction() as conn:
        fx.apply(conn, fx.FactIn("Caroline went to a LGBTQ support group yesterday (7 May 2024)",
                                 "fact", 0.6, "Caroline", said, (("message", msg_id),)),
                 fx.Decision("ADD"))
    memories.index.sync()
    hits, _, _ = assistant.evidence("When did Caroline go to the LGBTQ support group?", NOW)
    assert "message" not in {h.kind for h in hits if "support group" in h.snippet}


def test_answer_cites_the_right_memory(memories: Engine) -> None:
    model = FakeModel("The cheapest flight to Lisbon was 214 euros [2].")
    assistant = memories.assistant(model=model, settings=AnswerSettings(remember=False))
    answer = assistant.ask("How much was the cheapest flight to Lisbon?", now=NOW)
    assert not answer.abstained
    cited = answer.citations
    assert [e.n for e in cited] == [2] or "Lisbon" in cited[0].hit.snippet
    assert all("Lisbon" in e.hit.snippet for e in cited)
    assert cited[0].hit.source["type"] == "message"
    prompt = model.requests[0][-1]["content"]
    assert "Today is Friday, 10 May 2024" in prompt
    # evidence in time order, numbered from 1
    times = [e.hit.time for e in answer.evidence]
    assert times == sorted(times) and [e.n for e in answer.evidence] == list(
        range(1, len(times) + 1))
    assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(answer.timings)


def test_citation_to_nothing_is_dropped_and_attribution_fills_in(memories: Engine) -> None:
    model = FakeModel("Caroline went to the LGBTQ support group on 7 May 2024 [42].")
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "When did Caroline go to the LGBTQ support group?", now=NOW)
    assert "[42]" not in answer.text
    assert len(answer.citations) == 1 and answer.citations[0].cited_by == "overlap"
    assert "support group" in answer.citations[0].hit.snippet


def test_no_relevant_memory_abstains_without_asking_the_model(memories: Engine) -> None:
    model = FakeModel()
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What was the name of the volcano we climbed in Iceland?", now=NOW)
    assert answer.abstained and answer.text == ABSTAIN and model.requests == []
    # a time filter with nothing in it abstains too
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What did I book in March 2023?", now=NOW)
    assert answer.abstained and model.requests == []


def test_model_abstention_is_reported_without_citations(memories: Engine) -> None:
    model = FakeModel("I don't have a memory of that.")
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "Which seat did I pick on the Lisbon flight?", now=NOW)
    assert answer.abstained and answer.citations == [] and answer.reason == "model"


def test_the_assistant_remembers_questions_but_not_its_own_answers(memories: Engine) -> None:
    model = FakeModel("The flight to Lisbon was 214 euros [1].", "You asked about Lisbon [1].")
    assistant = memories.assistant(model=model, settings=AnswerSettings())
    assistant.ask("How much was the flight to Lisbon?", now=NOW)
    rows = memories.store.sql(
        "SELECT m.role, m.speaker, m.text FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE c.source = ? ORDER BY m.time", [ASSISTANT_SOURCE])
    assert [r[0] for r in rows] == ["user", "assistant"]
    assert rows[1][2] == "214 euros [1]."  # as shown: led by its answer
    # an ordinary question never sees the chat with Memlane as evidence
    model.replies.insert(0, "214 euros [1].")
    answer = assistant.ask("How much was the Lisbon flight?", now=NOW)
    assert all(e.hit.app != ASSISTANT_SOURCE for e in answer.evidence)
    # a question about the chat sees the person's questions, never the assistant's answers
    answer = assistant.ask("What did I ask you about today?")
    assert answer.evidence and all(
        e.hit.app == ASSISTANT_SOURCE and e.hit.role == "user" for e in answer.evidence)


def test_hit_roles_and_signals_are_filled(memories: Engine) -> None:
    hits: list[Hit] = memories.search("flight Lisbon", now=NOW).hits
    top = hits[0]
    assert top.role == "user" and top.keyword_rank is not None
    assert top.vector_distance is not None and top.vector_distance < 0.7


def test_made_up_answers_and_unrelated_citations_are_caught() -> None:
    from memlane.models.prompts import support, uncite_unrelated

    lines = ["[1] Tue 12 Mar 2024, 13:40, me: The cheapest flight to Lisbon was 214 euros.",
             "[2] Wed 13 Mar 2024, 18:05, me: My sister Ana's birthday is on the 2nd of April."]
    assert support("Melanie painted a cat [2].", "What did Melanie paint?", lines) == 0.0
    assert support("It was 214 euros [1].", "How much was the Lisbon flight?", lines) == 1.0
    from memlane.models.prompts import adds_nothing

    assert adds_nothing("Caroline motivates Caroline to be courageous [2].",
                        "Which song motivates Caroline to be courageous?")
    assert not adds_nothing("Yes [1].", "Did I book the flight?")
    assert not adds_nothing("Brave by Sara Bareilles [2].", "Which song motivates Caroline?")
    text, removed = uncite_unrelated("Ana's birthday is on the 2nd of April [1].", lines)
    assert text == "Ana's birthday is on the 2nd of April." and removed == [1]


def test_an_invented_answer_becomes_an_abstention(memories: Engine) -> None:
    model = FakeModel("Melanie painted a purple giraffe [2].")
    answer = memories.assistant(model=model, settings=AnswerSettings(remember=False)).ask(
        "What did Melanie paint with her kids?", now=NOW)
    assert answer.abstained and answer.reason == "unsupported" and answer.citations == []


def test_the_cli_shows_the_checked_answer_when_it_differs_from_the_streamed_draft(
        memories: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    from memlane.cli.answers import _print_revision

    model = FakeModel("Melanie painted a purple giraffe [2].", "Melanie paint with her kids [1].",
                      "A sunset [1].", "A sunset [7].", "Melanie painted a sunset [1].")
    assistant = memories.assistant(model=model, settings=AnswerSettings(remember=False))
    refused = assistant.ask("What did Melanie paint with her kids?", now=NOW)
    _print_revision(refused, "Melanie painted a purple giraffe [2].")
    out = capsys.readouterr().out
    assert "used words found in no memory" in out and out.rstrip().endswith(ABSTAIN)
    restated = assistant.ask("What did Melanie paint with her kids?", now=NOW)
    _print_revision(restated, "Melanie paint with her kids [1].")
    assert "only restated the question" in capsys.readouterr().out
    kept = assistant.ask("What did Melanie paint with her kids?", now=NOW)
    _print_revision(kept, "A sunset [1].")
    assert capsys.readouterr().out == ""  # nothing changed: nothing more is printed
    moved = assistant.ask("What did Melanie paint with her kids?", now=NOW)
    _print_revision(moved, "A sunset .")  # [7] points at nothing: dropped while streaming
    assert capsys.readouterr().out.splitlines() == [
        "  (the draft above had its citations corrected)", "A sunset [1]."]
    led = assistant.ask("What did Melanie paint with her kids?", now=NOW)
    _print_revision(led, "Melanie painted a sunset [1].")
    assert capsys.readouterr().out.splitlines() == [
        "  (the draft above restated the question before its answer)", "A sunset [1]."]
