"""Pictures of the simulated tissue and plots of run time series (matplotlib, Agg backend)."""
