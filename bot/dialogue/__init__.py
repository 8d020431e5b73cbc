"""The dialogue core: domain, tracker, policies and built-in actions.

Pure code in the sans-I/O style: it turns (tracker, parsed message) into events and the
next action to run. No Redis, sockets, HTTP or torch here, so it is tested with plain
calls; the server (:mod:`bot.turns`) does the I/O around it.
"""

from bot.dialogue.domain import Domain, DomainError
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.tracker import DialogueTracker

__all__ = ["DialogueEngine", "DialogueTracker", "Domain", "DomainError"]
