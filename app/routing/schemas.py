"""Routing rules and maintenance windows as the API takes and shows them."""

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from app.routing.matcher import check_field, check_pattern
from app.schemas import READ, STRICT
from app.vocabulary import Urgency

MAX_RULES = 100


class ConditionIn(BaseModel):
    model_config = STRICT
    field: str = Field(
        max_length=300,
        description="severity, summary, source, labels.<name> or details.<dot.path>",
    )
    op: Literal["equals", "regex"] = "equals"
    value: str | list[str] = Field(description="A value, or a list of which any may match")

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        problem = check_field(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _value(self) -> Self:
        values = self.value if isinstance(self.value, list) else [self.value]
        if not values or len(values) > 50:
            raise ValueError("value: give between 1 and 50 values")
        for v in values:
            if len(v) > 1024:
                raise ValueError("value: each value must be at most 1024 characters")
            if self.op == "regex" and (problem := check_pattern(v)):
                raise ValueError(f"value: {problem}")
        return self


class RuleIn(BaseModel):
    model_config = STRICT
    name: str = Field(default="", max_length=200)
    conditions: list[ConditionIn] = Field(
        default_factory=list, max_length=20, description="All must hold; none matches every alert"
    )
    escalation_policy_id: uuid.UUID | None = Field(
        default=None, description="Page by this policy instead of the service's"
    )
    urgency: Urgency | None = None
    suppress: bool = Field(default=False, description="Record the incident resolved; page nobody")

    @model_validator(mode="after")
    def _action(self) -> Self:
        if self.suppress and (self.escalation_policy_id or self.urgency):
            raise ValueError("a suppressing rule pages nobody: drop escalation_policy_id/urgency")
        return self


class RuleCreate(RuleIn):
    position: int | None = Field(
        default=None, ge=1, description="1-based place in the list; appended when absent"
    )


class RuleList(BaseModel):
    model_config = STRICT
    rules: list[RuleIn] = Field(max_length=MAX_RULES)


class ConditionRead(BaseModel):
    field: str
    op: str
    value: str | list[str]


class RuleRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    service_id: uuid.UUID
    position: int
    name: str
    conditions: list[ConditionRead]
    escalation_policy_id: uuid.UUID | None
    urgency: Urgency | None
    suppress: bool
    created_at: datetime


class WindowCreate(BaseModel):
    model_config = STRICT
    starts_at: datetime
    ends_at: datetime
    description: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _span(self) -> Self:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone offset (e.g. Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class WindowRead(BaseModel):
    model_config = READ
    id: uuid.UUID
    service_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    description: str
    created_at: datetime
    active: bool = False
