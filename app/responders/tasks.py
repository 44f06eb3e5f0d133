"""The responders' job: answer a Slack button click after its request has returned."""

from app.jobs import Ctx
from app.responders.slack import SLACK_REPLY_JOB, send_reply


async def slack_reply(ctx: Ctx, response_url: str, text: str, in_channel: bool) -> None:
    """Answer a Slack button click through its response_url."""
    await send_reply(ctx["http"], response_url, text, in_channel)


TASKS = {SLACK_REPLY_JOB: slack_reply}
