r"""Figures for model assessment: error against rank, similarity, factors.

Every function draws like seaborn's and ArviZ's: by default it makes a new figure
through pyplot, so that Jupyter's inline backend shows it at the end of the cell and a
script shows it at ``plt.show()``; and every function returns that
:class:`matplotlib.figure.Figure`, to save (``fig.savefig(path)``) or to close
(``plt.close(fig)``, in a loop that draws many). Pass ``ax=`` (an Axes, or a sequence
of Axes for the multi-panel figures) to draw into Axes of your own instead; the
function then returns ``ax.figure`` and makes no figure.

A Figure (not an Axes, as seaborn's one-panel functions return) because most of these
figures have many panels (like seaborn's figure-level functions); ``fig.axes`` lists
them in the order the docstrings give.
"""

from bayesfactor.plot._factors import factors
from bayesfactor.plot._selection import error, similarity
from bayesfactor.plot._seqnmf import seqnmf

__all__ = ["error", "similarity", "factors", "seqnmf"]
