"""Activation functions written as formula strings, e.g. ``"x * sigmoid(1.5 * x)"``.

The string is parsed with :mod:`ast` and walked against a whitelist of node types, names and
functions; it is never evaluated as Python. The walk compiles the tree into nested closures
over torch functions, folding constants, so a formula runs the same tensor operations as the
hand-written function would.

Grammar: the input ``x``; learnable scalars ``beta``, ``beta1``, ``beta2``, ... (each an
``nn.Parameter``, initial value 1 unless given); numbers and the constants ``pi`` and ``e``;
``+ - * /``, unary ``-``/``+``, ``**`` with a constant exponent; and the functions in
:data:`UNARY_FUNCTIONS` and :data:`BINARY_FUNCTIONS` (the operators of Ramachandran et al. 2017).
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Callable
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actsearch.activations._fixed import _gaussian, _sinc
from actsearch.errors import ActivationParameterError, InvalidFormulaError

MAX_LENGTH = 256
MAX_NODES = 96
MAX_EXPONENT = 16

Params = nn.ParameterDict
TensorFn = Callable[[Tensor, Params], Tensor]
# A compiled sub-expression: a folded constant or a function of (x, parameters).
Compiled = Union[float, TensorFn]  # noqa: UP007 - Union keeps this a runtime alias in 3.11

UNARY_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "abs": torch.abs,
    "sqrt": torch.sqrt,
    "exp": torch.exp,
    "log": torch.log,
    "sin": torch.sin,
    "cos": torch.cos,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "asinh": torch.asinh,
    "atan": torch.atan,
    "arctan": torch.atan,
    "sinc": _sinc,
    "erf": torch.erf,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "relu": torch.relu,
    "gaussian": _gaussian,
    "square": torch.square,
}

BINARY_FUNCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "max": torch.maximum,
    "min": torch.minimum,
}

CONSTANTS = {"pi": math.pi, "e": math.e}
_BETA = re.compile(r"^beta\d*$")

_FOLD: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: float(a**b),
}


def _reject(expression: str, problem: str, fix: str) -> InvalidFormulaError:
    shown = expression if len(expression) <= 60 else expression[:57] + "..."
    return InvalidFormulaError(f"invalid activation formula {shown!r}: {problem}; {fix}")


def parse_formula(expression: str) -> ast.Expression:
    """Parse and validate a formula; return its AST.

    Raises:
        InvalidFormulaError: Too long, malformed, or using anything outside the whitelist.
    """
    if not isinstance(expression, str):
        raise InvalidFormulaError(f"activation formula must be a string, not {type(expression)}")
    if len(expression) > MAX_LENGTH:
        raise _reject(expression, f"it is {len(expression)} characters long",
                      f"keep formulas under {MAX_LENGTH} characters")
    if not expression.strip():
        raise _reject(expression, "it is empty", "write a function of x such as 'x * sigmoid(x)'")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise _reject(expression, f"syntax error at column {exc.offset} ({exc.msg})",
                      "check brackets and operators") from None
    except ValueError as exc:  # e.g. null bytes
        raise _reject(expression, str(exc), "use plain text") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise _reject(expression, f"it has {len(nodes)} syntax nodes",
                      f"simplify it to under {MAX_NODES}")
    return tree


class _Compiler:
    """Walks a validated AST into closures, collecting the ``beta`` parameters it meets."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.betas: list[str] = []
        self.uses_x = False

    def error(self, problem: str, fix: str) -> InvalidFormulaError:
        return _reject(self.expression, problem, fix)

    def compile(self, node: ast.AST) -> Compiled:
        handler = getattr(self, f"_{type(node).__name__}", None)
        if handler is None:
            raise self.error(f"{_describe(node)} is not allowed",
                             "use only x, beta, numbers, + - * / **, and the listed functions")
        result: Compiled = handler(node)
        return result

    def _Expression(self, node: ast.Expression) -> Compiled:  # noqa: N802 - ast visitor name
        return self.compile(node.body)

    def _Constant(self, node: ast.Constant) -> Compiled:  # noqa: N802
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"the constant {value!r} is not a real number", "use numbers only")
        if not math.isfinite(value):
            raise self.error(f"the constant {value!r} is not finite", "use a finite number")
        return float(value)

    def _Name(self, node: ast.Name) -> Compiled:  # noqa: N802
        name = node.id
        if name == "x":
            self.uses_x = True
            return lambda x, p: x
        if name in CONSTANTS:
            return CONSTANTS[name]
        if _BETA.match(name):
            if name not in self.betas:
                self.betas.append(name)
            return lambda x, p: p[name]
        if name in UNARY_FUNCTIONS or name in BINARY_FUNCTIONS:
            raise self.error(f"{name!r} is a function", f"call it, e.g. {name}(x)")
        hint = _closest(name, ["x", "beta", *CONSTANTS])
        raise self.error(f"unknown name {name!r}", f"use x, beta (learnable), pi or e{hint}")

    def _UnaryOp(self, node: ast.UnaryOp) -> Compiled:  # noqa: N802
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if not isinstance(node.op, ast.USub):
            raise self.error(f"{_describe(node.op)} is not allowed", "use + - * / ** only")
        if isinstance(operand, float):
            return -operand
        f = operand
        return lambda x, p: torch.neg(f(x, p))

    def _BinOp(self, node: ast.BinOp) -> Compiled:  # noqa: N802
        op = type(node.op)
        if op not in _FOLD:
            raise self.error(f"the operator {_describe(node.op)} is not allowed",
                             "use + - * / and ** (with a constant exponent)")
        left, right = self.compile(node.left), self.compile(node.right)
        if op is ast.Pow:
            return self._power(left, right)
        if op is ast.Div and isinstance(right, float) and right == 0.0:
            raise self.error("it divides by the constant 0", "divide by a non-zero value")
        if isinstance(left, float) and isinstance(right, float):
            return self._fold(op, left, right)
        return _binary_op(op, left, right)

    def _power(self, base: Compiled, exponent: Compiled) -> Compiled:
        if not isinstance(exponent, float):
            raise self.error("the exponent of ** is not a constant",
                             "use a number, e.g. x**2, or exp(y * log(x)) for a variable power")
        if abs(exponent) > MAX_EXPONENT:
            raise self.error(f"the exponent {exponent:g} is too large",
                             f"keep exponents within ±{MAX_EXPONENT}")
        if isinstance(base, float):
            return self._fold(ast.Pow, base, exponent)
        f = base
        if exponent == 2.0:
            return lambda x, p: torch.square(f(x, p))
        return lambda x, p: torch.pow(f(x, p), exponent)

    def _fold(self, op: type[ast.operator], a: float, b: float) -> float:
        try:
            value = _FOLD[op](a, b)
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise self.error(f"a constant part cannot be computed ({exc})",
                             "use smaller constants") from None
        if isinstance(value, complex) or not math.isfinite(value):
            raise self.error("a constant part is not a finite real number",
                             "use smaller constants")
        return value

    def _Call(self, node: ast.Call) -> Compiled:  # noqa: N802
        if not isinstance(node.func, ast.Name):
            raise self.error(f"calling {_describe(node.func)} is not allowed",
                             "call a listed function by name, e.g. tanh(x)")
        name = node.func.id
        if node.keywords:
            raise self.error(f"{name}() got keyword arguments", "pass arguments by position")
        if name not in UNARY_FUNCTIONS and name not in BINARY_FUNCTIONS:
            known = [*UNARY_FUNCTIONS, *BINARY_FUNCTIONS]
            raise self.error(f"unknown function {name!r}",
                             f"use one of {', '.join(sorted(known))}{_closest(name, known)}")
        args = [self.compile(a) for a in node.args]
        if name in UNARY_FUNCTIONS:
            return self._call_unary(name, args)
        return self._call_binary(name, args)

    def _call_unary(self, name: str, args: list[Compiled]) -> Compiled:
        if len(args) != 1:
            raise self.error(f"{name}() takes 1 argument, got {len(args)}", f"write {name}(x)")
        fn, (arg,) = UNARY_FUNCTIONS[name], args
        if isinstance(arg, float):
            return self._fold_call(name, lambda: fn(torch.tensor(arg, dtype=torch.float64)))
        return lambda x, p: fn(arg(x, p))

    def _call_binary(self, name: str, args: list[Compiled]) -> Compiled:
        if len(args) != 2:
            raise self.error(f"{name}() takes 2 arguments, got {len(args)}", f"write {name}(x, 0)")
        a, b = args
        if isinstance(a, float) and isinstance(b, float):
            return max(a, b) if name == "max" else min(a, b)
        if isinstance(a, float):  # max/min are symmetric: keep the constant on the right
            a, b = b, a
        tensor_a: TensorFn = a  # type: ignore[assignment]
        if isinstance(b, float):
            bound = b
            if name == "max":
                return lambda x, p: torch.clamp(tensor_a(x, p), min=bound)
            return lambda x, p: torch.clamp(tensor_a(x, p), max=bound)
        fn, tensor_b = BINARY_FUNCTIONS[name], b
        return lambda x, p: fn(tensor_a(x, p), tensor_b(x, p))

    def _fold_call(self, name: str, compute: Callable[[], Tensor]) -> float:
        value = float(compute())
        if not math.isfinite(value):
            raise self.error(f"{name}() of a constant is not finite", "use a different constant")
        return value


def _binary_op(op: type[ast.operator], left: Compiled, right: Compiled) -> TensorFn:
    """Closure for ``left op right`` where at least one side is a tensor."""
    if isinstance(right, float):
        assert not isinstance(left, float)
        return _tensor_op_constant(op, left, right)
    if isinstance(left, float):
        return _constant_op_tensor(op, left, right)
    f: TensorFn = left
    g: TensorFn = right
    if op is ast.Add:
        return lambda x, p: torch.add(f(x, p), g(x, p))
    if op is ast.Sub:
        return lambda x, p: torch.sub(f(x, p), g(x, p))
    if op is ast.Mult:
        return lambda x, p: torch.mul(f(x, p), g(x, p))
    return lambda x, p: torch.div(f(x, p), g(x, p))


def _tensor_op_constant(op: type[ast.operator], f: TensorFn, c: float) -> TensorFn:
    if op is ast.Add:
        return lambda x, p: f(x, p) + c
    if op is ast.Sub:
        return lambda x, p: f(x, p) - c
    if op is ast.Mult:
        return lambda x, p: f(x, p) * c
    inverse = 1.0 / c  # multiplying is cheaper than dividing, and exact enough
    return lambda x, p: f(x, p) * inverse


def _constant_op_tensor(op: type[ast.operator], c: float, g: TensorFn) -> TensorFn:
    if op is ast.Add:
        return lambda x, p: g(x, p) + c
    if op is ast.Sub:
        return lambda x, p: torch.rsub(g(x, p), c)
    if op is ast.Mult:
        return lambda x, p: g(x, p) * c
    return lambda x, p: torch.reciprocal(g(x, p)) * c


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access", ast.Lambda: "a lambda", ast.Subscript: "indexing",
        ast.Compare: "a comparison", ast.BoolOp: "a boolean operator", ast.IfExp: "if/else",
        ast.NamedExpr: "assignment", ast.JoinedStr: "an f-string", ast.Starred: "unpacking",
    }
    return names.get(type(node), f"'{type(node).__name__}'")


def _closest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def compile_formula(expression: str) -> tuple[TensorFn, list[str]]:
    """Compile a formula to ``fn(x, params)`` and the names of its ``beta`` parameters.

    Raises:
        InvalidFormulaError: See :func:`parse_formula`; also when the result does not depend on x.
    """
    compiler = _Compiler(expression)
    compiled = compiler.compile(parse_formula(expression))
    if isinstance(compiled, float) or not compiler.uses_x:
        raise compiler.error("it does not depend on x", "use x somewhere in the formula")
    return compiled, compiler.betas


class Formula(nn.Module):
    """An activation defined by a formula string; each ``beta`` is a learnable scalar.

    Args:
        expression: The formula, e.g. ``"x * sigmoid(beta * x)"``.
        **initial: Initial values of the formula's betas (default 1.0 each).

    Example:
        >>> Formula("x * sigmoid(beta * x)", beta=1.5)
        Formula('x * sigmoid(beta * x)')
    """

    def __init__(self, expression: str, **initial: float) -> None:
        super().__init__()
        self.expression = expression.strip()
        self._fn, betas = compile_formula(self.expression)
        unknown = sorted(set(initial) - set(betas))
        if unknown:
            raise ActivationParameterError(
                f"formula {self.expression!r} has no parameter {', '.join(unknown)}; "
                f"its parameters are: {', '.join(betas) or 'none'}"
            )
        self.betas = nn.ParameterDict(
            {b: nn.Parameter(torch.tensor(float(initial.get(b, 1.0)))) for b in betas}
        )

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x, self.betas)

    def extra_repr(self) -> str:
        return repr(self.expression)

    # Closures cannot be pickled: ship the expression and recompile on arrival (Ray, deepcopy).
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_fn", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fn, _ = compile_formula(self.expression)
