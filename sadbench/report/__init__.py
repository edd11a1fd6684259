"""Reading results back: tables, analysis, figures and the HTML/Markdown report."""
