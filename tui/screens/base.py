"""What every screen of the control room shares: typed access to the app, and a redraw after each batch.

``AarApp`` publishes ``run_changed`` after it folds a batch from the store;
a ``RunScreen`` subscribes while it is mounted and redraws what the batch
touched in ``refresh_views``. Screens under the top one stay subscribed, so
they are current when they come back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.message_pump import MessagePump
from textual.screen import Screen

from aar.errors import AarError
from tui.model import Changes
from tui.widgets.lines import LINE_CLASSES, STATUS_CLASSES

if TYPE_CHECKING:
    from tui.app import AarApp


def aar_app(node: MessagePump) -> AarApp:
    """The ``AarApp`` that ``node`` runs in, typed; an error for a node mounted in any other app."""
    from tui.app import AarApp  # at call time: the app module imports the screens

    app = node.app
    if not isinstance(app, AarApp):
        raise AarError(f"{type(node).__name__} belongs to the aar control room, not to {type(app).__name__}")
    return app


class RunScreen(Screen[None]):
    """A screen that shows the run: ``aar`` is its app, ``refresh_views`` is called after each batch.

    It holds the component classes of tail lines and statuses for the widgets on it (``tui.widgets.lines``).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = set(LINE_CLASSES | STATUS_CLASSES)

    @property
    def aar(self) -> AarApp:
        return aar_app(self)

    def on_mount(self) -> None:
        # immediate: redrawn in the same turn as the batch is folded, as a direct call would
        self.aar.run_changed.subscribe(self, self.refresh_views, immediate=True)

    def refresh_views(self, changes: Changes) -> None:
        """Redraw what ``changes`` touched; the default shows nothing of the run."""
