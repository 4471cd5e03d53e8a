"""A tiny command-line application, bundled with its locked dependencies."""

import click
import idna


@click.command()
@click.argument("name", default="world")
def main(name: str) -> None:
    """Greet NAME, spelled the way DNS would."""
    click.echo(f"Hello, {idna.encode(name).decode()}!")
