"""Torch hooks beyond a backend's own, on any submodule of the model: the leak check shared by
every backend (a hook on ``model.native.blocks[0]`` changes every later forward pass as surely as
one on a hook point)."""

from __future__ import annotations

from typing import Any

__all__ = ["ModuleHooks"]

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
               "_state_dict_hooks", "_load_state_dict_pre_hooks")


class ModuleHooks:
    """The hooks of every submodule of ``root`` (a ``torch.nn.Module``), against a baseline taken
    when the backend was built (the hooks a library keeps for itself are not leaks)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self._baseline = self._ids()

    def _ids(self) -> dict[tuple[str, str], set[int]]:
        ids = {}
        for name, mod in self.root.named_modules():
            for attr in _HOOK_DICTS:
                hooks = getattr(mod, attr, None)
                if hooks:
                    ids[(name or "<model>", attr)] = set(hooks)
        return ids

    def extra(self) -> dict[tuple[str, str], set[int]]:
        """``(module name, hook dict) -> hook ids`` added since the baseline."""
        out = {}
        for key, ids in self._ids().items():
            added = ids - self._baseline.get(key, set())
            if added:
                out[key] = added
        return out

    def describe(self) -> list[str]:
        """One line per module and kind of hook added since the baseline."""
        return [f"{name} ({len(ids)} {attr.strip('_').replace('_', ' ')[:-1]}"
                f"{'s' if len(ids) > 1 else ''})"
                for (name, attr), ids in sorted(self.extra().items())]

    def remove(self) -> None:
        """Remove every hook added since the baseline."""
        modules = dict(self.root.named_modules())
        for (name, attr), ids in self.extra().items():
            hooks = getattr(modules["" if name == "<model>" else name], attr)
            for hook_id in ids:
                hooks.pop(hook_id, None)
