"""Benchmark application."""

def main() -> None:
    import django, pandas, scipy
    print(django.__version__, pandas.__version__, scipy.__version__)
