print("feedloop: under construction")
