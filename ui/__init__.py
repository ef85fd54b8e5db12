"""UI helpers of the Streamlit app (plain logic, figures, widgets); superdiff_core never imports this."""
