"""The screen's keys at the bottom, wrapped onto a second line rather than cut off.

Textual's footer is one row that scrolls sideways: at 80 columns half the
main screen's keys would be out of sight with no mouse to scroll to them.
This bar lists every shown binding of the active screen and wraps between
keys, never inside one, so every key is on screen at 80x24.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget

GAP = 1
"""Cells between two keys."""


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        height: auto;
        background: $panel;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh(layout=True)

    def entries(self) -> list[Text]:
        """``key label`` for each shown action of the active screen, then the command palette's key."""
        out: list[Text] = []
        shown: set[str] = set()
        bindings = self.screen.active_bindings
        for _node, binding, enabled, _tooltip in bindings.values():
            if not binding.show or binding.action in shown:
                continue  # one entry per action, as when S and ctrl+x both stop the run
            shown.add(binding.action)
            out.append(_entry(self.app.get_key_display(binding), binding.description, enabled))
        palette = bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None and self.app.ENABLE_COMMAND_PALETTE:
            out.append(_entry(self.app.get_key_display(palette.binding), "palette", True))
        return out

    def _lines(self, width: int) -> list[Text]:
        lines: list[Text] = []
        for entry in self.entries():
            if lines and lines[-1].cell_len + GAP + entry.cell_len <= width:
                lines[-1].append(" " * GAP)
                lines[-1].append_text(entry)
            else:
                lines.append(entry.copy())
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(len(self._lines(width)), 1)

    def render(self) -> RenderResult:
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, line in enumerate(self._lines(self.content_size.width)):
            if i:
                out.append("\n")
            out.append_text(line)
        return out


def _entry(key: str, label: str, enabled: bool) -> Text:
    entry = Text(key, style="bold reverse" if enabled else "dim", end="")
    entry.append(" " + label, style="" if enabled else "dim")
    return entry
