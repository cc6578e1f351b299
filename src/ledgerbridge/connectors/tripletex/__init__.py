"""Tripletex (Norway): the firm's clients, products and VAT types, and work statistics."""
