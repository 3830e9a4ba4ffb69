"""A small health-services project built straight through the store (no ingest), shared by the
quotes/themes/ask/writeup/retriever tests. Excerpts are the participants' answer bodies (speaker
labels excluded) and the interviewer's questions, so `text[start:end]` holds by construction."""

from __future__ import annotations

import re
from pathlib import Path

from assistant.corpus.search import sync_index
from assistant.models import Code, Coding, Excerpt, Source
from assistant.project import Project
from index.embeddings import HashingEmbedder

INTERVIEWS = {
    "P01": ({"participant": "Alice Smith", "organisation": "City Hospital", "sector": "NHS"}, [
        ("Interviewer", "How do emergency admissions relate to housing?"),
        ("P01", "Cold damp housing drives many of our emergency admissions in winter. "
                "We see the same families coming back to the emergency department every year. "
                "Nobody joins up the housing repair with the discharge plan."),
        ("Interviewer", "What about funding?"),
        ("P01", "Funding for prevention is always the first thing cut. "
                "Short-term grants mean every prevention project stops after a year."),
    ]),
    "P02": ({"participant": "Bob Jones", "organisation": "Council", "sector": "Local authority"}, [
        ("Interviewer", "What makes partnership work hard?"),
        ("P02", "Data sharing between the council and the hospital is the main barrier. "
                "We cannot see who was admitted, so we cannot target the housing repairs. "
                "Information governance rules make every data sharing agreement take months."),
        ("Interviewer", "And funding?"),
        ("P02", "Short-term funding kills prevention work. "
                "Every prevention grant ends just as the team has learned what works."),
    ]),
    "P03": ({"participant": "Carol White", "organisation": "Food Network", "sector": "Voluntary sector"}, [
        ("Interviewer", "Tell me about your work with families."),
        ("P03", "Families in damp housing tell us their children are admitted to hospital with asthma. "
                "We refer them to the council but the repairs take months. "
                "Trust with the community took years to build."),
        ("Interviewer", "What about money?"),
        ("P03", "Our funding is year to year, so prevention work is always at risk. "
                "Volunteers keep the food network going when the grants stop."),
    ]),
    "P04": ({"participant": "Dan Brown", "organisation": "GP Practice", "sector": "NHS"}, [
        ("Interviewer", "What do you see in general practice?"),
        ("P04", "Patients with cold homes come to the surgery with chest infections every winter. "
                "Social prescribing links them to housing advice and warm home grants. "
                "Data sharing with the council would let us find the people at risk."),
    ]),
}
DOCUMENT = ("Health inequalities strategy 2024.\n\n"
            "The council will fund a warm homes programme to reduce emergency admissions from cold housing. "
            "Data sharing agreements between the NHS and the council will be agreed within six months.\n\n"
            "Prevention funding will move from annual grants to three-year settlements.")


def build_project(folder: Path, codings: bool = True) -> Project:
    project = Project.init(folder)
    project.settings.analyst = "alice"
    project.set_embedder(HashingEmbedder(256))
    store = project.store
    for name, (attrs, turns) in INTERVIEWS.items():
        text, spans = "", []
        for speaker, body in turns:
            label = f"{speaker}: "
            start = len(text) + len(label)
            text += label + body + "\n"
            spans.append((speaker, start, start + len(body)))
        src = store.add_source(Source(name=name, kind="interview", text=text, attributes=attrs,
                                      content_hash=name))
        store.add_excerpts([
            Excerpt(source_id=src.id, ordinal=i, start=s, end=e, text=text[s:e], speaker=sp,
                    is_interviewer=sp == "Interviewer")
            for i, (sp, s, e) in enumerate(spans)
        ])
    doc = store.add_source(Source(name="Strategy 2024", kind="document", text=DOCUMENT,
                                  attributes={"organisation": "Council", "sector": "Local authority"},
                                  content_hash="doc"))
    paras = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", DOCUMENT)]
    store.add_excerpts([Excerpt(source_id=doc.id, ordinal=i, start=s, end=e, text=DOCUMENT[s:e], page=1)
                        for i, (s, e) in enumerate(paras)])
    housing = store.add_code(Code(name="Housing and health", definition="Cold or damp housing causing illness and admissions"))
    store.add_code(Code(name="Data sharing", definition="Sharing data between organisations, information governance"))
    store.add_code(Code(name="Short-term funding", definition="Prevention funding that is short-term or cut"))
    if codings:
        for src_name, phrase, code in [
            ("P01", "Cold damp housing drives many of our emergency admissions in winter.", housing),
            ("P03", "Families in damp housing tell us their children are admitted to hospital with asthma.", housing),
        ]:
            add_coding(project, src_name, phrase, code.name, "alice")
    sync_index(project)
    return project


def add_coding(project: Project, source_name: str, phrase: str, code_name: str, coder: str) -> Coding:
    store = project.store
    src = store.get_source(source_name)
    start = src.text.index(phrase)
    code = store.get_code(code_name)
    return store.add_coding(Coding(source_id=src.id, code_id=code.id, start=start, end=start + len(phrase),
                                   text=phrase, coder=coder, origin="manual"))
