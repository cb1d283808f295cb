"""PySpark jobs: raw → curated. Pure `transform_*` functions plus a thin `main(argv)`."""
