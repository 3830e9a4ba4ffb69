"""The structured output an LLM must produce when suggesting codes (validated with pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CodeProposalOut(_Out):
    code: str = Field(description="A code name copied exactly from the codebook")
    confidence: float = Field(description="0 to 1")
    rationale: str = Field(default="", description="One sentence: why this code applies")
    evidence: str = Field(default="", description="A passage copied exactly from the excerpt")

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp(cls, v: object) -> float:
        """Models say 85 or "0.8"; a clamp is kinder than a retry and loses nothing."""
        x = float(v)  # type: ignore[arg-type]
        if x > 1.0 and x <= 100.0:
            x /= 100.0
        return min(1.0, max(0.0, x))


class NewCodeOut(_Out):
    name: str
    definition: str = ""
    evidence: str = ""
    rationale: str = ""


class SuggestOutput(_Out):
    codes: list[CodeProposalOut] = Field(default_factory=list)
    proposed_new_codes: list[NewCodeOut] = Field(default_factory=list)
