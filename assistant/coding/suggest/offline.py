"""The offline suggestion engine: no network, no LLM, fast.

For each (excerpt, code) it computes three similarities and standardises each per code across a
background population of excerpts (the step that mattered most in the PDPilot prototype: codes
differ wildly in how similar *everything* looks to their definition):
  proto   - cosine of the code's prototype ("name: definition", include criteria) to the excerpt's
            best sentence and to the whole excerpt (averaged);
  example - max cosine between any excerpt sentence and the code's example quotes from the codebook;
  lexical - BM25 of each excerpt for the code's words (name, definition, include criteria) as
            the query: the search index's own bm25s scorer, stopwords dropped. It replaced a
            TF-IDF cosine written for this engine alone; on benchmarks/precode_pdpilot.py it scored
            mean kappa 0.442 vs 0.390 from the codebook alone, 0.419 vs 0.382 after learning from
            20% (mean of the three tuning splits) and 0.419 vs 0.421 on the held-out split.
The z-scores are combined with fixed weights, a parent code lends a little of its score to its
children. The analyst's decisions (accepted codings, rejected suggestions) then adjust the score
through `learn.FeedbackModel` (a nearest-decided-excerpts vote and per-code logistic regressions),
so the engine gets better as the analyst works. Each excerpt keeps its top-k codes above the
code's threshold. Thresholds are
calibrated per code from accepted vs rejected decisions when there are enough of them.
The evidence span is the excerpt sentence that best matches the code.

Sentence vectors come from the excerpt's own forward pass (token vectors mean-pooled over each
sentence, `index.embeddings.embed_with_sentences_cache`), cached by the search index when it embeds
the excerpts: a cold first pre-coding no longer embeds every sentence again (demo, shared 2-core
machine: 17 s after 166 s of excerpt embedding, was 267 s after 210 s; PDPilot mean kappa 0.442
unseeded and 0.453 seeded held-out, was 0.442 and 0.419). The rationale says in words what matched
(`Explainer`): shared words, the best sentence, the nearest excerpt the analyst coded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from assistant.coding.suggest import (
    EngineResult,
    Proposal,
    SuggestContext,
    SuggestionEngine,
    accepted_examples,
    rejected_examples,
)
from assistant.coding.suggest.learn import (
    ACCEPTED,
    REJECTED,
    FeedbackModel,
    LearnParams,
    _keys,
)
from assistant.corpus.view import excerpt_question
from assistant.models import StoredCode, StoredExcerpt
from index.config import Bm25Settings
from index.embeddings import (
    EmbeddingCache,
    embed_with_cache,
    embed_with_sentences_cache,
    excerpt_sentence_spans,
    l2_normalise,
)

Embed = Callable[[Sequence[str]], np.ndarray]
# per text, the vectors of its sentences (as `excerpt_sentence_spans` cuts them)
EmbedSentences = Callable[[Sequence[str]], list[np.ndarray]]
# Code words vs an excerpt: stopwords dropped, as the TF-IDF scorer does ("and" is no evidence).
LEXICAL_BM25 = Bm25Settings(stopwords="en")


@dataclass
class CodeSpecVec:
    """What the scorer knows of one code."""

    key: int
    name: str
    definition: str = ""
    include: str = ""
    examples: list[tuple[Any, str]] = field(default_factory=list)  # (owner excerpt id or None, text)
    parent: int | None = None


@dataclass
class ScorerParams:
    w_proto: float = 1.0
    w_example: float = 1.0
    w_lexical: float = 0.6
    examples_for_full_weight: int = 4
    parent_weight: float = 0.2
    top_k: int = 3
    threshold: float = 1.0  # combined z-score a code must reach by default
    min_calibration: int = 3  # decisions per code needed before its threshold is calibrated
    learn: LearnParams = field(default_factory=LearnParams)


class OfflineScorer:
    """Pure numpy scoring; no store access, so the benchmark and tests drive it directly."""

    def __init__(self, embed: Embed, params: ScorerParams | None = None,
                 embed_sentences: EmbedSentences | None = None):
        self.embed = embed
        # sentence vectors pooled from each excerpt's own forward pass (cached by the search
        # index when it embedded the excerpts); without it every sentence is embedded again
        self.embed_sentences = embed_sentences
        self.p = params or ScorerParams()
        self.codes: list[CodeSpecVec] = []
        self.thresholds: np.ndarray = np.zeros(0)
        self.feedback = FeedbackModel(self.p.learn)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, codes: list[CodeSpecVec], background: list[str], background_ids: list[Any] | None = None) -> None:
        self.codes = codes
        C = len(codes)
        protos = [f"{c.name}: {c.definition}".strip(": ") for c in codes]
        incl = [c.include for c in codes]
        P = self.embed(protos)
        has_inc = np.array([bool(t) for t in incl])
        if has_inc.any():
            Pi = np.zeros_like(P)
            Pi[has_inc] = self.embed([t for t in incl if t])
            P = l2_normalise(P + 0.5 * Pi)
        self.P = P
        ex_texts, self.ex_code, self.ex_owner = [], [], []
        for j, c in enumerate(codes):
            for owner, text in c.examples:
                if text.strip():
                    ex_texts.append(text)
                    self.ex_code.append(j)
                    self.ex_owner.append(owner)
        self.E = self.embed(ex_texts) if ex_texts else np.zeros((0, P.shape[1]), np.float32)
        self.ex_code_arr = np.array(self.ex_code, dtype=int)
        self.has_examples = np.bincount(self.ex_code_arr, minlength=C) > 0 if ex_texts else np.zeros(C, bool)
        docs = [f"{c.name} {c.definition} {c.include}" for c in codes]  # examples in the lexical doc hurt on PDPilot
        self.lexical_docs = docs
        self._lex_corpus = list(dict.fromkeys(background))
        self._lex_row = {t: i for i, t in enumerate(self._lex_corpus)}
        self._lex_scores = self._bm25_matrix(self._lex_corpus)
        self.parent_idx = np.array([next((k for k, d in enumerate(codes) if d.key == c.parent), -1) for c in codes])
        feats = self.features(background, background_ids)
        self.background_emb = feats.pop("emb")
        self.feedback = FeedbackModel(self.p.learn)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # codes without examples: all-NaN columns
            self.stats = {k: (np.nanmean(v, axis=0), np.nanstd(v, axis=0) + 1e-6) for k, v in feats.items()
                          if k != "best_sentence"}
        self.stats = {k: (np.nan_to_num(m), np.where(np.isnan(s), 1.0, s)) for k, (m, s) in self.stats.items()}
        self.thresholds = np.full(C, self.p.threshold)

    # -- scoring ---------------------------------------------------------------------------------
    def sentences(self, texts: Sequence[str]) -> tuple[list[tuple[int, int]], np.ndarray]:
        spans, owner = [], []
        for i, t in enumerate(texts):
            ss = excerpt_sentence_spans(t)
            spans += ss
            owner += [i] * len(ss)
        return spans, np.array(owner, dtype=int)

    def features(self, texts: Sequence[str], ids: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        n, C = len(texts), len(self.codes)
        spans, owner = self.sentences(texts)
        if self.embed_sentences is not None:
            blocks = self.embed_sentences(texts)
            S = np.concatenate(blocks) if blocks else np.zeros((0, self.P.shape[1]), np.float32)
        else:
            S = self.embed([texts[o][s:e] for (s, e), o in zip(spans, owner)])
        X = self.embed(list(texts))
        starts = np.searchsorted(owner, np.arange(n))
        sp = S @ self.P.T  # (m, C)
        proto = 0.5 * (np.maximum.reduceat(sp, starts, axis=0) + X @ self.P.T)
        sent_score = sp.copy()
        example = np.full((n, C), np.nan, dtype=np.float32)
        if len(self.E):
            se = S @ self.E.T  # (m, n_examples)
            if ids is not None:  # an excerpt is never its own example
                own = np.array([ids[o] for o in owner], dtype=object)
                ex_owner = np.array(self.ex_owner, dtype=object)
                mask = own[:, None] == ex_owner[None, :]
                se[mask & (ex_owner[None, :] != None)] = -1.0
            per_code = np.full((len(S), C), -1.0, dtype=np.float32)
            for j in np.unique(self.ex_code_arr):
                per_code[:, j] = se[:, self.ex_code_arr == j].max(axis=1)
            sent_score = np.where(self.has_examples[None, :], 0.5 * (sp + per_code), sp)
            ex_max = np.maximum.reduceat(per_code, starts, axis=0)
            example[:, self.has_examples] = ex_max[:, self.has_examples]
        lexical = self._lexical(texts)
        best = np.zeros((n, C), dtype=int)
        for i in range(n):  # best sentence per code (evidence)
            lo = starts[i]
            hi = starts[i + 1] if i + 1 < n else len(owner)
            best[i] = lo + sent_score[lo:hi].argmax(axis=0)
        self._spans, self._S = spans, S
        return {"proto": proto, "example": example, "lexical": lexical, "best_sentence": best, "emb": X}

    def _bm25_matrix(self, corpus: list[str]) -> np.ndarray:
        """BM25 score of every corpus text (rows) for each code's words as the query (columns)."""
        from index.lexical import Bm25Index

        index = Bm25Index(LEXICAL_BM25)
        index.build(np.arange(len(corpus)), corpus)
        if not corpus:
            return np.zeros((0, len(self.lexical_docs)), np.float32)
        return np.stack([index.scores(d) for d in self.lexical_docs], axis=1).astype(np.float32)

    def _lexical(self, texts: Sequence[str]) -> np.ndarray:
        """Keyword similarity of each text to each code's name, definition and include criteria."""
        rows = [self._lex_row.get(t) for t in texts]
        if all(r is not None for r in rows):
            return self._lex_scores[rows] if rows else np.zeros((0, len(self.codes)), np.float32)
        # texts outside the background (rare: the background is every answer excerpt) are scored
        # in an index over the background plus them, so the collection statistics barely move
        corpus = self._lex_corpus + [t for t in dict.fromkeys(texts) if t not in self._lex_row]
        where = {t: i for i, t in enumerate(corpus)}
        return self._bm25_matrix(corpus)[[where[t] for t in texts]]

    def learn(self, texts: Sequence[str], ids: Sequence[Any] | None, labels: np.ndarray) -> None:
        """Fit the feedback layer on excerpts the analyst decided on. labels: (len(texts), n_codes)
        with learn.ACCEPTED / SEEN / REJECTED. Call after `fit` (it needs the background)."""
        X = self.embed(list(texts)) if len(texts) else np.zeros((0, self.P.shape[1]), np.float32)
        self.feedback.fit(X, _keys(ids, texts), np.asarray(labels), self.background_emb)

    def combine(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """The codebook-only score (before learning from decisions)."""
        z = {k: (feats[k] - m) / s for k, (m, s) in self.stats.items()}
        p = self.p
        num = p.w_proto * z["proto"] + p.w_lexical * z["lexical"]
        den = p.w_proto**2 + p.w_lexical**2
        ex = np.nan_to_num(z["example"], nan=0.0)
        # trust examples in proportion to how many there are: one example is mostly topic noise
        n_ex = np.bincount(self.ex_code_arr, minlength=len(self.codes)) if len(self.ex_code_arr) else np.zeros(len(self.codes))
        w = (p.w_example * np.minimum(1.0, n_ex / p.examples_for_full_weight))[None, :].astype(np.float32)
        score = (num + w * ex) / np.sqrt(den + w**2)
        if p.parent_weight and (self.parent_idx >= 0).any():
            kids = self.parent_idx >= 0
            score[:, kids] += p.parent_weight * score[:, self.parent_idx[kids]]
        return score

    def score(self, texts: Sequence[str], ids: Sequence[Any] | None = None,
              with_lr: bool = True) -> tuple[np.ndarray, np.ndarray, list]:
        feats = self.features(texts, ids)
        scores = self.combine(feats)
        if self.feedback.n_labelled:
            scores = scores + self.feedback.adjust(feats["emb"], _keys(ids, texts), with_lr=with_lr)
        return scores, feats["best_sentence"], self._spans

    def calibrate(self, scores: np.ndarray, labels: np.ndarray, decided: np.ndarray) -> None:
        """Per code, the threshold maximising F1 over decided (excerpt, code) pairs."""
        for j in range(scores.shape[1]):
            rows = decided[:, j]
            pos, s = labels[rows, j], scores[rows, j]
            if pos.sum() < 1 or (~pos).sum() < 1 or rows.sum() < self.p.min_calibration:
                continue
            best_t, best_f = self.thresholds[j], -1.0
            for t in np.unique(s):
                pred = s >= t
                tp = (pred & pos).sum()
                f = 2 * tp / (pred.sum() + pos.sum()) if (pred.sum() + pos.sum()) else 0
                if f > best_f:
                    best_t, best_f = t, f
            self.thresholds[j] = best_t

    def select(self, scores: np.ndarray, top_k: int | None = None) -> list[list[tuple[int, float]]]:
        k = top_k or self.p.top_k
        out = []
        for row in scores:
            order = np.argsort(-row)[:k]
            out.append([(int(j), float(row[j])) for j in order if row[j] >= self.thresholds[j]])
        return out


class OfflineEngine(SuggestionEngine):
    name = "offline"
    prompt_version = ""

    def __init__(self, embed: Embed, model: str, params: ScorerParams | None = None,
                 embed_sentences: EmbedSentences | None = None):
        self.scorer = OfflineScorer(embed, params, embed_sentences)
        self.model = model
        self._prepared_for: tuple | None = None
        self._params: dict[str, Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        if self._params is None:  # asked once per recorded suggestion: compute once
            self._params = asdict(self.scorer.p)
        return dict(self._params)

    @classmethod
    def from_project(cls, project: Any) -> OfflineEngine:
        s = project.settings.suggest
        params = ScorerParams(top_k=s.top_k, threshold=max(s.min_score, 1.0) if s.min_score else 1.0)
        embed, embed_sentences = project_embedders(project)
        return cls(embed, project.embedder.model_id, params, embed_sentences)

    def prepare(self, codes: list[StoredCode], context: SuggestContext) -> None:
        project = context.project
        accepted = accepted_examples(project, context.holdout)
        rejected = rejected_examples(project, context.holdout)
        specs = [CodeSpecVec(key=c.id, name=c.name, definition=c.definition, include=c.include,
                             examples=[(None, t) for t in c.examples], parent=c.parent_id) for c in codes]
        # the decided (code, excerpt) pairs themselves: removing one coding and adding another
        # leaves the counts equal but must still retrain
        decisions = (tuple(sorted((k, tuple(sorted(str(o) for o, _ in v))) for k, v in accepted.items())),
                     tuple(sorted((k, tuple(sorted(v))) for k, v in rejected.items())))
        sig = (tuple((s.key, s.name, s.definition, s.include, len(s.examples)) for s in specs), decisions)
        if sig == self._prepared_for:
            return
        background = project.store.list_excerpts(include_interviewer=False)
        self.scorer.fit(specs, [e.text for e in background], [e.id for e in background])
        texts, ids, labels = feedback_matrix([c.id for c in codes], accepted, rejected,
                                             {e.id: e.text for e in project.store.list_excerpts()})
        self.scorer.learn(texts, ids, labels)
        self._calibrate(texts, ids, labels)
        self._prepared_for = sig

    def _calibrate(self, texts: list[str], ids: list[Any], labels: np.ndarray) -> None:
        """Per-code thresholds from the decided (excerpt, code) pairs. Scored without the logistic
        regressions, which were trained on these very rows and would flatter them."""
        decided = (labels == ACCEPTED) | (labels == REJECTED)
        if not (labels == REJECTED).any() or not decided.any():
            return
        rows = decided.any(axis=1)
        scores, _, _ = self.scorer.score([t for t, r in zip(texts, rows) if r],
                                         [i for i, r in zip(ids, rows) if r], with_lr=False)
        self.scorer.calibrate(scores, labels[rows] == ACCEPTED, decided[rows])

    def suggest(self, excerpts: list[StoredExcerpt], codes: list[StoredCode], context: SuggestContext) -> list[EngineResult]:
        if self._prepared_for is None:  # callers prepare once per run; batches must not rescan decisions
            self.prepare(codes, context)
        if not excerpts:
            return []
        from assistant.coding.codebook import code_applies

        scores, best, spans = self.scorer.score([e.text for e in excerpts], [e.id for e in excerpts])
        for i, e in enumerate(excerpts):  # scoped codes only where they apply (source and question)
            src = context.sources.get(e.source_id)
            question = excerpt_question(e, src) if src is not None else None
            for j, c in enumerate(codes):
                if c.scope and src is not None and not code_applies(c, src, question):
                    scores[i, j] = -np.inf
        picks = self.scorer.select(scores)
        explain = Explainer(self.scorer, context, [e.id for e in excerpts])
        out = []
        for i, e in enumerate(excerpts):
            props = []
            for j, sc in picks[i]:
                s, t = spans[best[i, j]]
                props.append(Proposal(code_id=codes[j].id, score=sc, rationale=explain(i, j, e.text, int(best[i, j])),
                                      evidence_start=e.start + s, evidence_end=e.start + t, evidence_text=e.text[s:t]))
            out.append(EngineResult(excerpt_id=e.id, proposals=props))
        return out


def _snippet(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


class Explainer:
    """Says in plain words what drove a proposal: the words the excerpt shares with the code's
    name, definition and include criteria; the sentence that matched best (the evidence); and
    the nearest excerpt the analyst coded with the code (or the codebook example it is most
    like), with its source. No scores or method names: a reviewer reads this beside the quote."""

    def __init__(self, scorer: OfflineScorer, context: SuggestContext, excerpt_ids: list[int]):
        from index.lexical import Tokenizer

        self.scorer, self.context = scorer, context
        self.tokenize = Tokenizer(LEXICAL_BM25)
        self.code_terms = [set(self.tokenize(d)) for d in scorer.lexical_docs]
        self.excerpt_ids = excerpt_ids
        fb = scorer.feedback
        self._decided: dict[int, tuple[int, str, str]] = {}
        if fb.n_labelled:
            wanted = [k[1] for k in fb.keys if k[0] == "i"]
            store = context.project.store
            names = {sid: src.name for sid, src in context.sources.items()}
            for ex in store.list_excerpts(ids=wanted):
                who = f"{names.get(ex.source_id, '?')}" + (f", {ex.speaker}" if ex.speaker else "")
                self._decided[ex.id] = (ex.id, who, ex.text)

    def words(self, text: str, j: int) -> list[str]:
        import re

        terms, seen, out = self.code_terms[j], set(), []
        for w in re.findall(r"\w+", text):
            stem = self.tokenize(w)
            if len(w) > 2 and stem and stem[0] in terms and stem[0] not in seen:
                seen.add(stem[0])
                out.append(w.lower())
        return out[:5]

    def nearest_coded(self, i: int, sentence: int, j: int) -> str | None:
        fb = self.scorer.feedback
        if not fb.n_labelled:
            return None
        rows = np.flatnonzero(fb.labels[:, j] == ACCEPTED)
        rows = [r for r in rows if fb.keys[r][0] == "i" and fb.keys[r][1] in self._decided
                and fb.keys[r][1] != self.excerpt_ids[i]]
        if not rows:
            return None
        x = self.scorer._S[sentence]
        r = max(rows, key=lambda r: float(fb.X[r] @ x))
        _, who, text = self._decided[fb.keys[r][1]]
        return f"nearest excerpt you coded with it: \u201c{_snippet(text)}\u201d ({who})"

    def nearest_example(self, sentence: int, j: int) -> str | None:
        sc = self.scorer
        if not len(sc.E) or not sc.has_examples[j]:
            return None
        rows = np.flatnonzero(sc.ex_code_arr == j)
        r = rows[int(np.argmax(sc.E[rows] @ sc._S[sentence]))]
        texts = [t for c in sc.codes for _, t in c.examples if t.strip()]
        return f"most like the codebook example \u201c{_snippet(texts[r], 70)}\u201d"

    def __call__(self, i: int, j: int, text: str, sentence: int) -> str:
        name = self.scorer.codes[j].name
        parts = []
        words = self.words(text, j)
        if words:
            parts.append(f"shares the words {', '.join(words)} with how \u201c{name}\u201d is described")
        else:
            parts.append(f"close in meaning to how \u201c{name}\u201d is described, without sharing its words")
        s, e = self.scorer._spans[sentence]
        owner_text = text[s:e] if e <= len(text) else ""
        if owner_text and owner_text.strip() != text.strip():
            parts.append(f"the sentence \u201c{_snippet(owner_text, 70)}\u201d matches best")
        near = self.nearest_coded(i, sentence, j) or self.nearest_example(sentence, j)
        if near:
            parts.append(near)
        out = "; ".join(parts)
        return out[0].upper() + out[1:] + "."


def feedback_matrix(code_ids: list[int], accepted: dict[int, list[tuple[int | None, str]]],
                    rejected: dict[int, list[int]], excerpt_text: dict[int, str],
                    ) -> tuple[list[str], list[Any], np.ndarray]:
    """The excerpts the analyst decided on, with ACCEPTED / SEEN / REJECTED per code. An excerpt
    coded with some codes is SEEN (a negative) for the others; acceptance beats an old rejection."""
    col = {k: j for j, k in enumerate(code_ids)}
    row: dict[Any, int] = {}
    texts: list[str] = []
    ids: list[Any] = []
    cells: list[tuple[int, int, int]] = []

    def r(ex_id: Any, text: str) -> int:
        key = ex_id if ex_id is not None else ("t", text)
        if key not in row:
            row[key] = len(texts)
            texts.append(text)
            ids.append(ex_id)
        return row[key]

    for key, items in rejected.items():
        for ex_id in items:
            if key in col and ex_id in excerpt_text:
                cells.append((r(ex_id, excerpt_text[ex_id]), col[key], REJECTED))
    for key, items in accepted.items():
        for ex_id, text in items:
            if key in col and text.strip():
                cells.append((r(ex_id, excerpt_text.get(ex_id, text) if ex_id is not None else text), col[key], ACCEPTED))
    labels = np.zeros((len(texts), len(code_ids)), np.int8)
    for i, j, v in cells:  # accepted written last, so it wins
        labels[i, j] = v
    return texts, ids, labels


def project_embed(project: Any) -> Embed:
    """Embeddings through the project's embedding cache (see `project_embedders`)."""
    return project_embedders(project)[0]


def project_embedders(project: Any) -> tuple[Embed, EmbedSentences]:
    """Embeddings through the project's embedding cache (shared with the search index), memoised in
    memory, so codebook texts are embedded once; and the excerpts' sentence vectors, which the
    index cached from the excerpts' own forward pass (an excerpt the index has not embedded gets
    both its vectors in one pass now)."""
    embedder = project.embedder
    project.index_dir.mkdir(mode=0o700, exist_ok=True)
    cache = EmbeddingCache(project.index_dir / "embeddings.sqlite")
    memo: dict[str, np.ndarray] = {}
    sent_memo: dict[str, np.ndarray] = {}

    def embed(texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            memo.update(zip(missing, embed_with_cache(embedder, missing, cache)))
        if not texts:
            return np.zeros((0, embedder.dim), np.float32)
        return np.stack([memo[t] for t in texts])

    def embed_sentences(texts: Sequence[str]) -> list[np.ndarray]:
        missing = [t for t in dict.fromkeys(texts) if t not in sent_memo]
        if missing:
            X, blocks = embed_with_sentences_cache(embedder, missing, cache)
            sent_memo.update(zip(missing, blocks))
            for t, x in zip(missing, X):
                memo.setdefault(t, x)
        return [sent_memo[t] for t in texts]

    return embed, embed_sentences
