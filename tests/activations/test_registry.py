"""Registry behaviour: lookup, aliases, errors, user registration and entry-point plugins."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from actsearch import activations
from actsearch.errors import (
    ActivationParameterError,
    RegistrationError,
    UnknownActivationError,
    UsageError,
)


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    added: list[str] = []
    yield added
    for name in added:
        if activations.is_known(name):
            activations.unregister(name)


def test_lookup_is_forgiving_about_case_and_separators() -> None:
    assert isinstance(activations.create("Leaky-ReLU"), nn.LeakyReLU)
    assert isinstance(activations.create(" swish "), nn.SiLU)
    assert activations.canonical("HEAVISIDE") == "binary_step"


def test_unknown_name_lists_closest_names() -> None:
    with pytest.raises(UnknownActivationError, match=r"did you mean .*leaky_relu") as err:
        activations.create("leaky_rleu")
    assert isinstance(err.value, UsageError)
    with pytest.raises(UnknownActivationError, match="mish"):
        activations.info("mesh")


def test_params_override_defaults_and_unknown_params_are_named() -> None:
    module = activations.create("leaky_relu", negative_slope=0.2)
    assert module(torch.tensor([-1.0])).item() == pytest.approx(-0.2)
    with pytest.raises(ActivationParameterError, match=r"slope.*accepts: negative_slope"):
        activations.create("leaky_relu", slope=0.2)


def test_create_passes_modules_through_and_wraps_callables() -> None:
    relu = nn.ReLU()
    assert activations.create(relu) is relu
    assert isinstance(activations.create(nn.Tanh), nn.Tanh)
    wrapped = activations.create(torch.tanh)
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(wrapped(x), torch.tanh(x))
    with pytest.raises(ActivationParameterError):
        activations.create(42)  # type: ignore[arg-type]


def test_register_activation_decorator_and_overwrite(cleanup: list[str]) -> None:
    @activations.register_activation("scaled_tanh", aliases=("lecun_tanh",),
                                     formula="1.7159 tanh(2x/3)")
    class ScaledTanh(nn.Module):
        def __init__(self, scale: float = 1.7159) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scale * torch.tanh(2 * x / 3)

    cleanup.append("scaled_tanh")
    assert "scaled_tanh" in activations.names()
    info = activations.info("lecun_tanh")
    assert info.params == {"scale": 1.7159}
    assert info.source == "user"
    assert activations.create("scaled_tanh", scale=2.0).scale == 2.0

    with pytest.raises(RegistrationError, match="already registered"):
        activations.register_activation("scaled_tanh")(ScaledTanh)
    with pytest.raises(RegistrationError, match="already used by 'relu'"):
        activations.register_activation("my_relu", aliases=("relu",))(nn.ReLU)
    activations.register_activation("scaled_tanh", overwrite=True)(nn.Tanh)
    assert isinstance(activations.create("scaled_tanh"), nn.Tanh)
    assert not activations.is_known("lecun_tanh")  # the old aliases went with the old entry


def test_bad_registration_names_are_rejected() -> None:
    with pytest.raises(RegistrationError, match="not valid"):
        activations.register_activation("2fast")(nn.ReLU)


def test_registry_view_is_read_only() -> None:
    view = activations.registry()
    with pytest.raises(TypeError):
        view["relu"] = view["tanh"]  # type: ignore[index]


def _install_distribution(site: Path, name: str, entry_point: str) -> None:
    """A real installed distribution (dist-info with entry_points.txt) in ``site``."""
    dist = site / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[actsearch.activations]\n{entry_point}\n")


def test_entry_point_plugins_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        cleanup: list[str]) -> None:
    package = tmp_path / "act_plugin_demo.py"
    package.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Cube(nn.Module):
            def forward(self, x):
                return x ** 3
    """))
    _install_distribution(tmp_path, "act-plugin-demo", "cube = act_plugin_demo:Cube")
    monkeypatch.syspath_prepend(str(tmp_path))
    cleanup.append("cube")
    activations.reload_plugins()
    try:
        module = activations.create("cube")
        assert module(torch.tensor([2.0])).item() == 8.0
        assert activations.info("cube").source == "entry-point:act-plugin-demo"
    finally:
        sys.modules.pop("act_plugin_demo", None)
        activations.reload_plugins()


def test_broken_plugin_is_skipped_with_a_clear_warning(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _install_distribution(tmp_path, "broken-demo", "broken = no_such_module_xyz:Thing")
    monkeypatch.syspath_prepend(str(tmp_path))
    activations.reload_plugins()
    try:
        with pytest.warns(RuntimeWarning, match="plugin 'broken'.*failed to load"):
            names = activations.names()
        assert "relu" in names
        assert "broken" not in names
    finally:
        monkeypatch.undo()
        activations.reload_plugins()
