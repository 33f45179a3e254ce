print("The GTS example is being built (issue 5).")
