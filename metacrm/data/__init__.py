"""Data in, data out, and analytics (docs/data.md): imports of CSV and XLSX
files, exports of lists, duplicate rules and merges, reports, dashboards
and the sales forecast.

A layer of its own between the services (:mod:`metacrm.plugins`, the list
service and the record store behind the guard) and the two faces that use
it, the REST API and the screens. Every read and write here goes through a
guard, so an import, an export or a report sees and changes exactly what
the user could through a list or a form.

Each part is a subpackage with its own ``plugin`` module of hook
implementations (its definition kinds, jobs and tenant tables), all listed
in :data:`metacrm.data.plugin.BUILTIN`.
"""
