"""Operations: health and readiness probes, runtime configuration rows."""
