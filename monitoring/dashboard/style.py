"""The page template and its stylesheet, inline so the app needs no asset files."""

CSS = """
body { margin: 0; font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
       color: #263238; background: #f5f7f9; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 24px; padding: 12px 24px;
         background: #0d3b66; color: #fff; }
header h1 { font-size: 20px; margin: 0; }
header .subtitle { font-size: 12px; opacity: 0.8; }
header nav { display: flex; gap: 4px; }
.nav-link { color: #fff; text-decoration: none; padding: 6px 12px; border-radius: 4px; font-weight: 500; }
.nav-link:hover { background: rgba(255,255,255,0.15); }
header .window { margin-left: auto; font-size: 14px; }
header .window label { margin-right: 6px; color: #fff; }
main { padding: 8px 24px 24px; }
.page h2 { margin: 12px 0 4px; font-size: 22px; }
.page h3 { margin: 4px 0; font-size: 16px; }
.intro { max-width: 1000px; color: #455a64; font-size: 14px; margin: 0 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 12px; }
.card { background: #fff; border-radius: 6px; padding: 10px 14px; min-width: 170px; flex: 1;
        box-shadow: 0 1px 2px rgba(0,0,0,0.08); }
.card-label { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: #607d8b; }
.card-value { font-size: 24px; font-weight: 600; margin: 2px 0; }
.card-value.small { font-size: 15px; }
.card-value.bad { color: #c62828; }
.card-hint { font-size: 12px; color: #78909c; }
.controls { display: flex; align-items: center; gap: 8px; margin: 6px 0 10px; font-size: 14px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px; }
.panel { background: #fff; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px rgba(0,0,0,0.08); }
.panel.wide { grid-column: 1 / -1; }
.caption { font-size: 12.5px; color: #546e7a; margin: 2px 4px 6px; }
.card-value.good { color: #2e7d32; }
.panel.wide + .panel.wide { margin-top: 10px; }
table.reasons { border-collapse: collapse; font-size: 13px; width: 100%; }
table.reasons th, table.reasons td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff1; }
table.reasons td.raises { color: #c62828; }
table.reasons td.lowers { color: #2e7d32; }
footer { padding: 8px 24px; font-size: 12px; color: #78909c; }
"""

INDEX_STRING = """<!DOCTYPE html>
<html lang="en">
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
        <style>""" + CSS + """</style>
    </head>
    <body>
        {%app_entry%}
        <footer>{%config%}{%scripts%}{%renderer%}</footer>
    </body>
</html>
"""
