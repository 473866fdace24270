"""How updates come in: per-sender flood guard, one update per chat at a time, bounded work."""

from bot.intake.lanes import ChatLanes, lane_of
from bot.intake.throttle import UserThrottle, Verdict, notice_due, sender_of

__all__ = ["ChatLanes", "UserThrottle", "Verdict", "lane_of", "notice_due", "sender_of"]
